"""The "Listen" button (_static/kl-read-aloud.js) in a real browser, with speech synthesis stubbed.

``window.speechSynthesis`` and ``SpeechSynthesisUtterance`` are replaced, before any script of the page
runs, by a recorder (``window.__speech``) that logs every call and ends each utterance asynchronously:
after ``delay`` ms in automatic mode, or when the test calls ``__speech.finish()`` in manual mode. A
paused recorder ends nothing until it is resumed, as a real synthesiser would.

Checked: the button is on every chapter; the page is read in document order; code cells, code blocks
and outputs are never read; math is read as words; the paragraph being read is highlighted; pause
and resume; a click on a paragraph jumps there only while reading; links still work; Escape stops.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STUB = r"""
(() => {
  const rec = {
    log: [],          // every call, in order: {call, text?, highlighted?}
    spoken: [],       // texts passed to speak(), in order
    auto: true,       // end utterances by themselves after `delay` ms
    delay: 5,
    current: null,    // the utterance being "spoken"
    endDue: false,    // its end came while paused
  };
  function highlighted() {
    const el = document.querySelector('.kl-reading-current');
    return el ? {index: el.getAttribute('data-kl-read-index'), text: el.textContent} : null;
  }
  function end(u) {
    if (rec.current !== u) return;
    if (synth.paused) { rec.endDue = true; return; }
    rec.current = null;
    synth.speaking = false;
    rec.log.push({call: 'end', text: u.text});
    if (u.onend) u.onend({type: 'end', utterance: u});
  }
  const synth = {
    speaking: false, paused: false, pending: false,
    speak(u) {
      rec.log.push({call: 'speak', text: u.text, highlighted: highlighted()});
      rec.spoken.push(u.text);
      rec.current = u;
      rec.endDue = false;
      synth.speaking = true;
      if (u.onstart) setTimeout(() => u.onstart({type: 'start'}), 0);
      if (rec.auto) setTimeout(() => end(u), rec.delay);
    },
    cancel() {
      rec.log.push({call: 'cancel'});
      const u = rec.current;
      rec.current = null;
      synth.speaking = false;
      if (u && u.onerror) setTimeout(() => u.onerror({type: 'error', error: 'interrupted'}), 0);
    },
    pause() { rec.log.push({call: 'pause'}); synth.paused = true; },
    resume() {
      rec.log.push({call: 'resume'});
      synth.paused = false;
      if (rec.endDue && rec.current) { const u = rec.current; rec.endDue = false; setTimeout(() => end(u), rec.delay); }
    },
    getVoices() { return []; },
    addEventListener() {}, removeEventListener() {},
  };
  rec.finish = () => { if (rec.current) end(rec.current); };
  class FakeUtterance {
    constructor(text) { this.text = text; this.lang = ''; this.rate = 1; this.onend = null; this.onerror = null; this.onstart = null; }
  }
  Object.defineProperty(window, 'speechSynthesis', {value: synth, configurable: true});
  window.SpeechSynthesisUtterance = FakeUtterance;
  window.__speech = rec;
})();
"""

ROOT = Path(__file__).resolve().parents[2]


def chapter_pages(site_dir: Path) -> list[str]:
    """Pages built from a notebook (their source .ipynb is published in _sources)."""
    return sorted(f"/book/{p.stem}.html" for p in (site_dir / "_sources" / "book").glob("*.ipynb"))


def open_page(page, site_url, path, auto=True, delay=5):
    page.add_init_script(STUB)
    response = page.goto(site_url + path)
    assert response is not None and response.ok
    page.wait_for_selector('.kl-listen [data-kl-listen="start"]', timeout=10_000)
    page.evaluate(f"() => {{ __speech.auto = {'true' if auto else 'false'}; __speech.delay = {delay}; }}")


def wait_until_finished(page, timeout=60_000):
    page.wait_for_function("() => document.querySelector('.kl-listen').dataset.klState === 'idle'", timeout=timeout)


def speech(page) -> dict:
    return page.evaluate("() => ({log: __speech.log, spoken: __speech.spoken})")


def wait_spoken(page, n, timeout=10_000):
    page.wait_for_function(f"() => __speech.spoken.length >= {n}", timeout=timeout)


def assert_clean(page):
    assert page.external_requests == [], f"requests left loopback: {page.external_requests}"
    assert page.console_errors == [], f"console errors: {page.console_errors}"


CODE_TEXTS = """() => Array.from(document.querySelectorAll(
      'article .cell_input, article .cell_output, article div.highlight, article pre'))
  .flatMap(el => el.textContent.split('\\n')).map(s => s.trim()).filter(s => s.length >= 12)"""


def read_whole_page(page):
    page.click('[data-kl-listen="start"]')
    wait_until_finished(page)
    return speech(page)


def check_reading(page, spoken_log):
    """Order, highlighting and skipping, for a page read from start to end."""
    speaks = [e for e in spoken_log["log"] if e["call"] == "speak"]
    assert speaks, "nothing was read"
    # every utterance is spoken while its paragraph is highlighted, and the paragraphs go in order
    indices = []
    for e in speaks:
        assert e["highlighted"] is not None, f"no paragraph highlighted while reading {e['text']!r}"
        indices.append(int(e["highlighted"]["index"]))
    assert indices == sorted(indices), "paragraphs were not read in order"
    assert indices[0] == 0 and len(set(indices)) == max(indices) + 1, "a paragraph was skipped"
    # the highlighted paragraphs are in document order
    in_order = page.evaluate("""() => {
        const seen = Array.from(document.querySelectorAll('[data-kl-read-index]'));
        return seen.length === 0;  // cleared after the end
    }""")
    assert in_order, "reading marks were not cleared when reading finished"
    # code and outputs are never read
    spoken = "\n".join(spoken_log["spoken"])
    for line in page.evaluate(CODE_TEXTS):
        assert line not in spoken, f"code or output was read aloud: {line!r}"
    assert page.evaluate("() => document.querySelectorAll('.kl-reading-current').length") == 0
    # and nothing is read twice in a row (two different paragraphs may well say the same thing)
    said = [(e["highlighted"]["index"], e["text"]) for e in speaks]
    assert all(a != b for a, b in zip(said, said[1:])), "an utterance was repeated"
    return [e["text"] for e in speaks]


# -- tests ----------------------------------------------------------------------------------------------

SITE = Path(os.environ.get("KL_BOOK_SITE", ROOT / "_build" / "html"))
LISTEN_PAGES = chapter_pages(SITE) + ["/book/playground.html", "/book/run_it_yourself.html"]


@pytest.mark.parametrize("path", LISTEN_PAGES)
def test_listen_button_on_every_chapter(loaded_page, site_dir, path):
    assert LISTEN_PAGES == chapter_pages(site_dir) + LISTEN_PAGES[-2:] and len(LISTEN_PAGES) >= 3
    page = loaded_page(path)  # loaded once for this and the other checks of the page that only read it
    button = page.locator('.kl-listen [data-kl-listen="start"]')
    button.wait_for(timeout=10_000)
    assert button.is_visible() and button.is_enabled(), path
    assert "listen" in (button.get_attribute("aria-label") or button.inner_text()).lower()
    # the controls sit right under the page title
    assert page.evaluate("() => document.querySelector('.kl-listen').previousElementSibling.tagName") == "H1", path
    assert_clean(page)


def test_reads_in_order_and_skips_code_blocks(page, site_url):
    open_page(page, site_url, "/book/run_it_yourself.html")
    expected = page.evaluate("() => KLReadAloud.collect()")
    log = read_whole_page(page)
    texts = check_reading(page, log)
    assert texts[0] == "Run it yourself"
    assert " ".join(texts) == " ".join(expected)
    # headings, in the page's order
    headings = [t for t in texts if t in ("In your browser, with nothing installed: Binder or Colab",
                                          "On your laptop: two commands", "Two more commands you will use",
                                          "If something goes wrong")]
    assert headings == ["In your browser, with nothing installed: Binder or Colab", "On your laptop: two commands",
                        "Two more commands you will use", "If something goes wrong"]
    spoken = " ".join(texts)
    assert "%pip install" not in spoken and "# set up .venv" not in spoken
    assert "make book creates a virtual environment" in spoken  # the prose around the code is read
    assert_clean(page)


@pytest.mark.parametrize("path", ["/book/intro.html", "/book/playground.html"])
def test_math_is_read_as_words(page, site_url, path):
    open_page(page, site_url, path)
    page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=15_000)
    log = read_whole_page(page)
    texts = check_reading(page, log)
    spoken = " ".join(texts)
    assert "K L of P from Q" in spoken
    assert "\\" not in spoken and "{" not in spoken, "raw TeX was read"
    # the interactive widgets are not read
    assert "Two distributions over six outcomes" not in spoken
    assert_clean(page)


def test_every_chapter_reads_to_the_end_without_code(page, site_url, site_dir):
    page.add_init_script(STUB)
    for path in chapter_pages(site_dir):
        page.goto(site_url + path)
        page.wait_for_selector('.kl-listen [data-kl-listen="start"]', timeout=10_000)
        page.evaluate("() => { __speech.delay = 1; }")
        check_reading(page, read_whole_page(page))
    assert_clean(page)


TEX_CASES = {
    r"\KL{P}{Q}": "K L of P from Q",
    r"\KL{Q}{P} \ge 0": "K L of Q from P, is at least 0",
    r"\frac{1}{2}": "one half",
    r"\frac{p(x)}{q(x)}": "p of x over q of x",
    r"x^2": "x squared",
    r"\mu_P": "mu sub P",
    r"\sigma_Q^2": "sigma sub Q squared",
    r"\E_{x \sim P}\left[f(x)\right]": "the expectation over x drawn from P of f of x",
    r"\sum_i p_i \log \frac{p_i}{q_i}": "the sum over i of p sub i log p sub i over q sub i",
    r"D_{\mathrm{KL}}(P \,\|\, Q)": "D sub K L of P from Q",
    r"\N(\mu, \sigma^2)": "normal of mu, sigma squared",
    r"\log 2 \approx 0.693": "log 2 is approximately 0.693",
    r"\tfrac12 \sum_i |p_i - q_i|": "one half the sum over i of the absolute value of p sub i minus q sub i",
    r"\pi(a \mid s)": "pi of a given s",
    r"p(x | y)": "p of x given y",
    r"\lvert x \rvert \le 1": "the absolute value of x, is at most 1",
}


def test_tex_to_speech(page, site_url):
    open_page(page, site_url, "/book/intro.html")
    got = page.evaluate("cases => cases.map(c => KLReadAloud.texToSpeech(c))", list(TEX_CASES))
    assert dict(zip(TEX_CASES, got)) == TEX_CASES
    assert_clean(page)


def test_pause_and_resume(page, site_url):
    open_page(page, site_url, "/book/run_it_yourself.html", delay=40)
    page.click('[data-kl-listen="start"]')
    wait_spoken(page, 3)
    pause = page.locator('[data-kl-listen="pause"]')
    pause.click()
    assert pause.inner_text() == "Resume" and pause.get_attribute("aria-pressed") == "true"
    assert page.evaluate("() => document.querySelector('.kl-listen').dataset.klState") == "paused"
    n = len(speech(page)["spoken"])
    highlighted = page.evaluate("() => document.querySelector('.kl-reading-current').dataset.klReadIndex")
    page.wait_for_timeout(400)  # ten utterances' worth of time: nothing moves while paused
    assert len(speech(page)["spoken"]) == n
    assert page.evaluate("() => document.querySelector('.kl-reading-current').dataset.klReadIndex") == highlighted
    calls = [e["call"] for e in speech(page)["log"]]
    assert "pause" in calls
    # keyboard: the Resume button is a button; Enter on it resumes
    pause.focus()
    page.keyboard.press("Enter")
    assert pause.inner_text() == "Pause"
    wait_spoken(page, n + 2)
    calls = [e["call"] for e in speech(page)["log"]]
    assert calls.index("resume") > calls.index("pause")
    # the utterance interrupted by the pause was not restarted or skipped: the reading goes on from it
    spoken = speech(page)["spoken"]
    assert spoken[n] != spoken[n - 1]
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.querySelector('.kl-listen').dataset.klState") == "idle"
    assert page.evaluate("() => document.querySelectorAll('.kl-reading-current').length") == 0
    assert_clean(page)


def test_click_on_a_paragraph_jumps_there_only_while_reading(page, site_url):
    open_page(page, site_url, "/book/run_it_yourself.html", auto=False)
    target = page.locator("article p", has_text="make serve is only a local web server").first
    # not reading: a click does nothing
    target.click()
    page.wait_for_timeout(100)
    assert speech(page)["spoken"] == []
    page.click('[data-kl-listen="start"]')
    wait_spoken(page, 1)
    assert speech(page)["spoken"][0] == "Run it yourself"
    page.evaluate("() => __speech.finish()")
    wait_spoken(page, 2)
    target.click()
    wait_spoken(page, 3)
    log = speech(page)
    last = [e for e in log["log"] if e["call"] == "speak"][-1]
    assert last["text"].startswith("make serve is only a local web server"), last["text"]
    assert last["highlighted"]["text"].startswith("make serve is only a local web server")
    assert "cancel" in [e["call"] for e in log["log"]][2:]  # the utterance under way was cancelled
    # the interrupted utterance's late "interrupted" error does not move the reading on
    page.wait_for_timeout(100)
    assert len(speech(page)["spoken"]) == 3
    # reading continues from the clicked paragraph
    page.evaluate("() => __speech.finish()")
    wait_spoken(page, 4)
    nxt = speech(page)["spoken"][3]
    assert nxt.startswith("You can also open")  # the rest of the same paragraph
    # next / previous buttons
    before = page.evaluate("() => +document.querySelector('.kl-reading-current').dataset.klReadIndex")
    page.click('[data-kl-listen="next"]')
    assert page.evaluate("() => +document.querySelector('.kl-reading-current').dataset.klReadIndex") == before + 1
    page.click('[data-kl-listen="prev"]')
    assert page.evaluate("() => +document.querySelector('.kl-reading-current').dataset.klReadIndex") == before
    page.click('[data-kl-listen="stop"]')
    assert page.evaluate("() => document.querySelector('.kl-listen').dataset.klState") == "idle"
    assert_clean(page)


def test_links_still_work_while_reading(page, site_url):
    open_page(page, site_url, "/book/run_it_yourself.html", auto=False)
    page.click('[data-kl-listen="start"]')
    wait_spoken(page, 1)
    link = page.locator("article p a", has_text="playground").first
    link.click()
    page.wait_for_url("**/book/playground.html", timeout=10_000)
    assert_clean(page)


def test_a_browser_without_voices_gets_a_message(page, site_url):
    """Real Chromium here has no voice: speak() fails with 'synthesis-failed'. The reader stops and says so."""
    page.goto(site_url + "/book/run_it_yourself.html")
    page.click('.kl-listen [data-kl-listen="start"]')
    page.wait_for_function("() => /could not speak|Reading/.test(document.querySelector('.kl-listen-status').textContent)")
    page.wait_for_timeout(500)
    state = page.evaluate("() => document.querySelector('.kl-listen').dataset.klState")
    status = page.locator(".kl-listen-status").inner_text()
    if state == "idle":  # no voice: stopped at once, with a message, not after racing through the page
        assert "could not speak" in status, status
        assert page.evaluate("() => document.querySelectorAll('.kl-reading-current').length") == 0
    else:  # a machine with a voice is reading
        assert state == "playing" and status.startswith("Reading "), status
        page.click('.kl-listen [data-kl-listen="stop"]')
    assert_clean(page)
