#!/usr/bin/env bash
# Make sure TeX Live for the PDF edition (make pdf) is on this machine: Debian/Ubuntu packages only, nothing else
# is downloaded. Installs, when a tool is missing:
#   latexmk, xelatex (texlive-xetex), the LaTeX packages Sphinx's LaTeX writer needs (texlive-latex-recommended,
#   texlive-latex-extra, texlive-fonts-recommended, tex-gyre), the FreeFont OpenType fonts xelatex uses by default
#   (fonts-freefont-otf), and poppler-utils (pdftotext, pdfimages) for the PDF test.
# Installed through tools/apt_install.sh (--no-install-recommends keeps out several hundred MB of documentation).
set -euo pipefail
if [ "${KL_BOOK_SKIP_TEXLIVE:-}" = "1" ]; then exit 0; fi
need=0
for tool in latexmk xelatex pdftotext pdfimages kpsewhich; do
  command -v "$tool" >/dev/null 2>&1 || need=1
done
if [ "$need" = 0 ] && kpsewhich fncychap.sty tabulary.sty capt-of.sty needspace.sty polyglossia.sty >/dev/null 2>&1 \
   && [ -n "$(fc-list "FreeSerif" 2>/dev/null)" ]; then
  exit 0
fi
PACKAGES="latexmk texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre fonts-freefont-otf poppler-utils"
exec bash "$(dirname "$0")/apt_install.sh" "the PDF edition (make pdf)" $PACKAGES
