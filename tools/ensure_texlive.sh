#!/usr/bin/env bash
# Make sure TeX Live for the PDF edition (make pdf) is on this machine: Debian/Ubuntu packages only, nothing else
# is downloaded. Installs, when a tool is missing:
#   latexmk, xelatex (texlive-xetex), the LaTeX packages Sphinx's LaTeX writer needs (texlive-latex-recommended,
#   texlive-latex-extra, texlive-fonts-recommended, tex-gyre), the FreeFont OpenType fonts xelatex uses by default
#   (fonts-freefont-otf), and poppler-utils (pdftotext, pdfimages) for the PDF test.
# --no-install-recommends keeps out the documentation packages (several hundred MB).
set -euo pipefail
if [ "${KL_BOOK_SKIP_TEXLIVE:-}" = "1" ]; then exit 0; fi
need=0
for tool in latexmk xelatex pdftotext pdfimages kpsewhich; do
  command -v "$tool" >/dev/null 2>&1 || need=1
done
if [ "$need" = 0 ] && kpsewhich fncychap.sty tabulary.sty capt-of.sty needspace.sty polyglossia.sty >/dev/null 2>&1 \
   && fc-list 2>/dev/null | grep -q FreeSerif; then
  exit 0
fi
PACKAGES="latexmk texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre fonts-freefont-otf poppler-utils"
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "make pdf needs TeX Live: run 'apt-get install --no-install-recommends $PACKAGES' as root, then again." >&2; exit 1
    fi
  fi
  echo "--- installing TeX Live (Debian packages) for the PDF edition"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
  exit 0
fi
echo "make pdf needs TeX Live (xelatex, latexmk, the Sphinx LaTeX packages) and poppler-utils; install them." >&2
exit 1
