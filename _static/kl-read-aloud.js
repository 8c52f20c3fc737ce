/*
 * kl-read-aloud.js: a "Listen" button that reads a page's prose aloud with the browser's own
 * speech synthesis (window.speechSynthesis). No server, no audio files, no network.
 *
 * What is read: headings, paragraphs, list items, definitions, captions and display math of the
 * page's article, in document order. What is skipped: code cells and their outputs, code blocks,
 * the interactive widgets, navigation, anything hidden (a closed dropdown) and the "#" anchors.
 * Math is read from its TeX source (saved before MathJax typesets it) through a small TeX-to-words
 * converter (texToSpeech below): \KL{P}{Q} is read "K L of P from Q", \frac{a}{b} "a over b".
 *
 * Controls: Listen / Pause / Resume / Stop, previous and next paragraph. The paragraph being read
 * is highlighted (class kl-reading-current). While reading mode is on (playing or paused), a click
 * on a paragraph starts reading there; clicks on links, buttons and form controls behave as usual,
 * and outside reading mode every click behaves as usual. Escape stops.
 *
 * Long paragraphs are spoken a sentence group at a time (Chrome cuts utterances off after about
 * 15 seconds), one utterance at a time, so that the highlight follows the voice.
 *
 * Testing contract (tests/browser/test_read_aloud.py): buttons carry data-kl-listen="start|pause|
 * stop|prev|next"; readable blocks carry data-kl-read-index; window.KLReadAloud exposes state.
 */
(function () {
  'use strict';

  var CONTENT = 'article.bd-article';
  // A table is read a row at a time ("cell; cell; cell"), never cell by cell.
  var BLOCKS = 'h1, h2, h3, h4, h5, h6, p, li, dt, dd, figcaption, caption, div.math, tr';
  // Never read anything inside these.
  var SKIP = [
    '.cell_input', '.cell_output', '.output', 'pre', 'div.highlight', 'nav', 'script', 'style',
    '.kl-widget', '.kl-listen', '.toctree-wrapper', '.headerlink', '.copybtn', 'button',
    '.prev-next-area', '.footnote-reference', '.tag_remove-input', 'mjx-assistive-mml'
  ].join(', ');
  // Speech errors that mean no utterance will ever work: reading stops with a message.
  var FATAL = ['synthesis-unavailable', 'synthesis-failed', 'audio-hardware', 'voice-unavailable', 'not-allowed', 'network'];
  var MAX_CHUNK = 220; // characters per utterance, at most (a sentence longer than this is kept whole)

  /* ------------------------------------------------------------------------------------------
   * TeX to words.
   * ---------------------------------------------------------------------------------------- */

  var GREEK = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta',
    'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'pi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi',
    'chi', 'psi', 'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Pi', 'Sigma', 'Phi', 'Psi', 'Omega'];

  // Commands read as a fixed word (or nothing).
  var WORDS = {
    log: 'log', ln: 'natural log', exp: 'exp', sin: 'sine', cos: 'cosine', tan: 'tangent', max: 'max',
    min: 'min', arg: 'arg', argmin: 'arg min', argmax: 'arg max', sup: 'sup', inf: 'inf', lim: 'limit', det: 'determinant',
    infty: 'infinity', cdot: 'times', times: 'times', cdots: 'dot dot dot', ldots: 'dot dot dot', dots: 'dot dot dot',
    pm: 'plus or minus', mp: 'minus or plus', le: 'is at most', leq: 'is at most', ge: 'is at least', geq: 'is at least',
    lt: 'is less than', gt: 'is greater than', neq: 'is not equal to', ne: 'is not equal to', approx: 'is approximately',
    equiv: 'is equivalent to', propto: 'is proportional to', sim: 'drawn from', to: 'to', rightarrow: 'to',
    mapsto: 'maps to', in: 'in', notin: 'not in', subset: 'subset of', forall: 'for all', exists: 'there exists',
    partial: 'partial', nabla: 'gradient of', mid: 'given', given: 'given', '|': 'from', parallel: 'from',
    Vert: 'from', ell: 'l', top: 'transpose', prime: 'prime', ast: 'star', star: 'star', circ: 'composed with',
    cup: 'union', cap: 'intersection', emptyset: 'the empty set', E: 'the expectation', R: 'the real numbers',
    N: 'normal', Pr: 'probability', KLsym: 'K L', colon: ':', ',': ' ', ';': ' ', ':': ' ', '!': '', quad: ' ',
    qquad: ' ', ' ': ' ', left: '', right: '', middle: '', big: '', Big: '', bigg: '', Bigg: '', bigl: '', bigr: '',
    displaystyle: '', textstyle: '', limits: '', nolimits: '', tfrac: null, dfrac: null, lbrace: '', rbrace: '',
    langle: '', rangle: '', vert: '', '{': '', '}': '', '%': 'percent', '_': 'underscore',
    '&': 'and', '#': 'number', '\\': ', ', nonumber: '', notag: '', label: null
  };

  // Commands whose one argument is read as it is (fonts), or as plain text.
  var FONT = ['mathrm', 'mathbf', 'mathit', 'mathsf', 'mathtt', 'boldsymbol', 'bm', 'operatorname', 'mathcal', 'mathbb', 'mathfrak'];
  var TEXT = ['text', 'textrm', 'textit', 'textbf', 'mbox', 'mathnormal'];
  var BLACKBOARD = { R: 'the real numbers', N: 'the natural numbers', Z: 'the integers', P: 'the probability' };
  var ACCENT = { hat: 'hat', bar: 'bar', tilde: 'tilde', widehat: 'hat', widetilde: 'tilde', overline: 'bar', vec: 'vector', dot: 'dot' };

  /** Split TeX into tokens: {t: 'cmd', v: name} | {t: 'ch', v: char} | {t: 'num', v: '0.5'}. */
  function tokenize(tex) {
    var toks = [];
    var i = 0;
    while (i < tex.length) {
      var c = tex[i];
      if (c === '\\') {
        var m = /^\\([A-Za-z]+|.)/.exec(tex.slice(i));
        if (!m) { i++; continue; }
        toks.push({ t: 'cmd', v: m[1] });
        i += m[0].length;
      } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(tex[i + 1] || ''))) {
        var n = /^[0-9]*\.?[0-9]+|^[0-9]+\.?/.exec(tex.slice(i));
        toks.push({ t: 'num', v: n[0].replace(/\.$/, '') });
        if (/\.$/.test(n[0])) toks.push({ t: 'ch', v: '.' });
        i += n[0].length;
      } else if (/\s/.test(c)) {
        i++;
      } else {
        toks.push({ t: 'ch', v: c });
        i++;
      }
    }
    return toks;
  }

  /**
   * A tiny recursive-descent reader over the tokens. Each read* function returns words.
   * It is forgiving: unknown commands are read by name, unbalanced braces are ignored.
   */
  function Reader(toks) { this.toks = toks; this.i = 0; }

  Reader.prototype.peek = function () { return this.toks[this.i]; };
  Reader.prototype.next = function () { return this.toks[this.i++]; };
  Reader.prototype.done = function () { return this.i >= this.toks.length; };

  /** One argument: a {group} or a single token. */
  Reader.prototype.arg = function () {
    var tok = this.peek();
    if (!tok) return '';
    if (tok.t === 'num' && tok.v.length > 1) {
      // TeX takes one character as an argument: \frac12 is \frac{1}{2}
      this.toks[this.i] = { t: 'num', v: tok.v.slice(1) };
      return tok.v[0];
    }
    if (tok.t === 'ch' && tok.v === '{') {
      this.next();
      var words = this.seq('}');
      if (this.peek() && this.peek().v === '}') this.next();
      return words;
    }
    return this.atom();
  };

  /** The raw text of a {group} (for \text{...}). */
  Reader.prototype.rawArg = function () {
    var tok = this.peek();
    if (!tok || tok.v !== '{') return this.atom();
    this.next();
    var depth = 1, out = [];
    while (!this.done()) {
      var t = this.next();
      if (t.t === 'ch' && t.v === '{') depth++;
      if (t.t === 'ch' && t.v === '}' && --depth === 0) break;
      out.push(t.t === 'cmd' ? (WORDS[t.v] || t.v) : t.v);
    }
    return out.join('').replace(/~/g, ' ');
  };

  /** Read until the closing token `end` (not consumed) or the end. */
  Reader.prototype.seq = function (end) {
    var words = [];
    while (!this.done()) {
      var tok = this.peek();
      if (end && tok.t === 'ch' && tok.v === end) break;
      if (!end && tok.t === 'ch' && tok.v === '}') { this.next(); continue; }
      var w = this.item(words);
      if (w) words.push(w);
    }
    return words.join(' ');
  };

  /** An atom followed by any sub- and superscripts. */
  Reader.prototype.item = function (before) {
    var base = this.atom(before);
    var big = this.bigOperator; // a sum, integral, expectation...: its subscript is read "over"
    this.bigOperator = false;
    for (;;) {
      var tok = this.peek();
      if (!tok || tok.t !== 'ch' || (tok.v !== '_' && tok.v !== '^' && tok.v !== "'")) break;
      this.next();
      if (tok.v === "'") { base += ' prime'; continue; }
      var script = this.arg();
      if (tok.v === '_') {
        base += big ? ' over ' + script : ' sub ' + script;
      } else {
        base += ' ' + power(script, big);
      }
    }
    if (big) base += ' of';
    return base;
  };

  /** One token and its arguments, as words. */
  Reader.prototype.atom = function (before) {
    var tok = this.next();
    if (!tok) return '';
    if (tok.t === 'num') return tok.v;
    if (tok.t === 'ch') return this.character(tok.v, before);
    var name = tok.v;
    var a, b;
    switch (name) {
      case 'KL': a = this.arg(); b = this.arg(); return 'K L of ' + a + ' from ' + b + ',';
      case 'JS': a = this.arg(); b = this.arg(); return 'J S of ' + a + ' and ' + b + ',';
      case 'TV': a = this.arg(); b = this.arg(); return 'the total variation between ' + a + ' and ' + b + ',';
      case 'Ent': a = this.arg(); return 'the entropy of ' + a + ',';
      case 'CE': a = this.arg(); b = this.arg(); return 'the cross-entropy of ' + a + ' and ' + b + ',';
      case 'frac': case 'tfrac': case 'dfrac':
        a = this.arg(); b = this.arg();
        if (a === '1' && b === '2') return 'one half';
        // "a over b"; "the fraction a, over b" when the numerator is itself a sum or product
        return (/\b(plus|minus|times|equals|over)\b/.test(a) ? 'the fraction ' + a + ', over ' : a + ' over ') + b + ',';
      case 'sqrt': return 'the square root of ' + this.arg() + ',';
      case 'sum': this.bigOperator = true; return 'the sum';
      case 'E': this.bigOperator = true; return 'the expectation';
      case 'prod': this.bigOperator = true; return 'the product';
      case 'int': this.bigOperator = true; return 'the integral';
      case 'lim': this.bigOperator = true; return 'the limit';
      case 'min': case 'max': case 'argmin': case 'argmax':
        this.bigOperator = true; return 'the ' + WORDS[name];
      case 'label': case 'tag': this.rawArg(); return '';
      case 'begin': case 'end': this.rawArg(); return '';
      case 'binom': a = this.arg(); b = this.arg(); return a + ' choose ' + b;
      case 'lvert': this.absDepth = (this.absDepth || 0) + 1; return 'the absolute value of';
      case 'rvert': this.absDepth = Math.max(0, (this.absDepth || 0) - 1); return ',';
      default:
    }
    if (FONT.indexOf(name) >= 0) {
      var inner = this.arg();
      if (name === 'mathbb' && inner === 'E') { this.bigOperator = true; return 'the expectation'; }
      if (name === 'mathbb' && BLACKBOARD[inner]) return BLACKBOARD[inner];
      // \mathrm{KL} -> "K L"; \mathrm{d}x -> "d x"
      return /^[A-Z]{2,4}$/.test(inner.replace(/ /g, '')) ? inner.replace(/ /g, '').split('').join(' ') : inner;
    }
    if (TEXT.indexOf(name) >= 0) return this.rawArg();
    if (ACCENT[name]) return this.arg() + ' ' + ACCENT[name];
    if (GREEK.indexOf(name) >= 0) return name.toLowerCase() === name ? name : 'capital ' + name.toLowerCase();
    if (Object.prototype.hasOwnProperty.call(WORDS, name)) {
      if (WORDS[name] === null) { this.arg(); return ''; }
      return WORDS[name];
    }
    return name; // an unknown command: say its name
  };

  /** A single character. `before` is what was said so far in this group (for "p of x"). */
  Reader.prototype.character = function (c, before) {
    switch (c) {
      case '{': var w = this.seq('}'); if (this.peek()) this.next(); return w;
      case '}': return '';
      case '(': case '[':
        // f(x) reads "f of x"; a bare bracket is silent
        var prev = before && before.length ? before[before.length - 1] : '';
        return takesOf(prev) ? 'of' : '';
      case ')': case ']': return '';
      case '=': return 'equals';
      case '+': return 'plus';
      case '-': return 'minus';
      case '<': return 'is less than';
      case '>': return 'is greater than';
      case '|': return this.bar(before);
      case ',': return ',';
      case ';': return ';';
      case '&': return '';
      case '~': return '';
      case '!': return 'factorial';
      case '/': return 'over';
      case '*': return 'star';
      default: return c;
    }
  };

  /** Is `prev` (the words before a parenthesis) a function name, as in p(x) or \log(x)? */
  function takesOf(prev) {
    var last = prev.split(' ').pop();
    if (/^[A-Za-z]$/.test(last)) return true;                       // p(x), f(x), Q(a)
    if (GREEK.indexOf(last) >= 0) return true;                      // pi(a | s)
    if (/ sub \S+$| hat$| bar$| tilde$| prime$| star$/.test(prev)) return true;
    return ['log', 'exp', 'normal', 'sine', 'cosine', 'tangent', 'max', 'min', 'probability'].indexOf(last) >= 0;
  }

  /**
   * A plain "|": the end of an absolute value when one is open, the start of one where a value is expected
   * (at the start, after an operator, after "the sum over i of"), and "given" otherwise, as in p(x | y).
   */
  Reader.prototype.bar = function (before) {
    var prev = before && before.length ? before[before.length - 1] : '';
    var prevTok = this.toks[this.i - 2];
    if (this.absDepth > 0 && !/(equals|plus|minus|times|over|of|at most|at least|than)$/.test(prev)) {
      this.absDepth--;
      return ',';
    }
    var expectsValue = !prev || /(equals|plus|minus|times|over|of|at most|at least|than|approximately|,)$/.test(prev) ||
      (prevTok && prevTok.t === 'ch' && /[(\[{=+\-,]/.test(prevTok.v));
    if (expectsValue) {
      this.absDepth = (this.absDepth || 0) + 1;
      return 'the absolute value of';
    }
    return 'given';
  };

  function power(script, isBigOperator) {
    if (isBigOperator) return 'to ' + script;
    if (script === '2') return 'squared';
    if (script === '3') return 'cubed';
    if (script === 'transpose' || script === 'T' || script === 'top') return 'transpose';
    if (script === 'minus 1') return 'inverse';
    if (script === 'star') return 'star';
    return 'to the power ' + script + ',';
  }

  /** Words for a TeX formula, e.g. texToSpeech('\\KL{P}{Q}') === 'K L of P from Q'. */
  function texToSpeech(tex) {
    var body = String(tex).trim()
      .replace(/^\\\(|\\\)$/g, '').replace(/^\\\[|\\\]$/g, '').replace(/^\$\$?|\$\$?$/g, '');
    var words = new Reader(tokenize(body)).seq(null);
    return words
      .replace(/\s+,/g, ',').replace(/,(\s*,)+/g, ',').replace(/\s+/g, ' ')
      .replace(/^[,\s]+|[,\s]+$/g, '')
      .replace(/\bof of\b/g, 'of')
      .replace(/^is /, '')
      .trim();
  }

  /* ------------------------------------------------------------------------------------------
   * Collecting what to read.
   * ---------------------------------------------------------------------------------------- */

  /** Save every formula's TeX before MathJax replaces it (MathJax typesets after this script runs). */
  function rememberTex(root) {
    Array.prototype.forEach.call(root.querySelectorAll('.math'), function (m) {
      if (!m.hasAttribute('data-kl-tex') && !m.querySelector('mjx-container')) {
        m.setAttribute('data-kl-tex', m.textContent);
      }
    });
  }

  /** The TeX of a typeset formula (mjx-container), through MathJax's own list of math items. */
  function texOfContainer(container) {
    var holder = container.closest('[data-kl-tex]');
    if (holder && holder.querySelectorAll('mjx-container').length <= 1) return holder.getAttribute('data-kl-tex');
    try {
      // MathJax 3 keeps every formula it typeset, with its TeX source, in a (iterable) list.
      for (var item of window.MathJax.startup.document.math) {
        if (item.typesetRoot === container) return item.math;
      }
    } catch (e) { /* MathJax not ready: fall through */ }
    var mml = container.querySelector('mjx-assistive-mml');
    return mml ? mml.textContent : container.textContent;
  }

  /** Not on screen: display none, visibility hidden (a closed dropdown), or no box at all. */
  function isHidden(node) {
    if (!(node.offsetWidth || node.offsetHeight || node.getClientRects().length)) return true;
    return window.getComputedStyle(node).visibility === 'hidden';
  }

  /** The words of one block: its text, with formulas turned into words and skipped parts left out. */
  function blockText(block) {
    var parts = [];
    (function walk(node) {
      if (node.nodeType === 3) { parts.push(node.nodeValue); return; }
      if (node.nodeType !== 1) return;
      if (node !== block && node.matches(SKIP)) return;
      if (node.tagName.toLowerCase() === 'mjx-container') {
        parts.push(' ' + texToSpeech(texOfContainer(node)) + ' ');
        return;
      }
      if (node.classList.contains('math') && !node.querySelector('mjx-container')) {
        parts.push(' ' + texToSpeech(node.getAttribute('data-kl-tex') || node.textContent) + ' ');
        return;
      }
      for (var c = node.firstChild; c; c = c.nextSibling) walk(c);
      if (/^t[dh]$/i.test(node.tagName)) parts.push('; '); // between the cells of a row
    })(block);
    return parts.join('').replace(/\s+/g, ' ').replace(/\s+([,.;:!?])/g, '$1')
      .replace(/,([.;:!?])/g, '$1').replace(/,,+/g, ',')
      .replace(/\bis is\b/g, 'is').replace(/(;\s*)+$/, '').replace(/;(\s*;)+/g, ';').trim();
  }

  /** The readable blocks of the page, in document order. */
  function collectBlocks(root) {
    var candidates = Array.prototype.filter.call(root.querySelectorAll(BLOCKS), function (b) {
      if (b.closest(SKIP)) return false;
      if (isHidden(b)) return false;
      var tag = b.tagName.toLowerCase();
      if (tag !== 'tr' && tag !== 'caption' && b.closest('tr')) return false; // read with its row
      if (tag === 'tr') return true;
      // a block holding other blocks (a list item with paragraphs) is read through them
      if (b.querySelector(BLOCKS)) {
        var own = Array.prototype.some.call(b.childNodes, function (c) {
          return c.nodeType === 3 && c.nodeValue.trim();
        });
        if (!own) return false;
      }
      // a paragraph inside a list item etc. is read once, as itself
      return true;
    });
    var blocks = [];
    candidates.forEach(function (b) {
      var text = blockText(b);
      if (text && /[A-Za-z0-9]/.test(text)) blocks.push({ el: b, text: text });
    });
    return blocks;
  }

  /** Split a block's text into utterances of at most MAX_CHUNK characters, at sentence ends. */
  function chunks(text) {
    if (text.length <= MAX_CHUNK) return [text];
    // sentences end at . ! or ? followed by a space (so "index.html" and "0.5" stay whole)
    var sentences = [], last = 0, re = /[.!?]+\s+/g, m;
    while ((m = re.exec(text))) {
      sentences.push(text.slice(last, m.index + m[0].length));
      last = m.index + m[0].length;
    }
    if (last < text.length) sentences.push(text.slice(last));
    var out = [], cur = '';
    sentences.forEach(function (s) {
      if (cur && (cur + s).length > MAX_CHUNK) { out.push(cur.trim()); cur = ''; }
      cur += s;
    });
    if (cur.trim()) out.push(cur.trim());
    return out;
  }

  /* ------------------------------------------------------------------------------------------
   * The reader: state machine over blocks and chunks.
   * ---------------------------------------------------------------------------------------- */

  var state = {
    mode: 'idle',      // 'idle' | 'playing' | 'paused'
    index: -1,         // the block being read
    chunk: 0,          // the utterance within the block
    blocks: [],
    generation: 0      // bumped on every jump/stop, so callbacks of cancelled utterances do nothing
  };
  var ui = {};
  var article = null;

  function synth() { return window.speechSynthesis; }

  function setMode(mode) {
    state.mode = mode;
    document.documentElement.classList.toggle('kl-reading-mode', mode !== 'idle');
    if (!ui.root) return;
    ui.root.setAttribute('data-kl-state', mode);
    ui.start.hidden = mode !== 'idle';
    ui.pause.hidden = mode === 'idle';
    ui.stop.hidden = mode === 'idle';
    ui.prev.hidden = mode === 'idle';
    ui.next.hidden = mode === 'idle';
    ui.pause.textContent = mode === 'paused' ? 'Resume' : 'Pause';
    ui.pause.setAttribute('aria-pressed', mode === 'paused' ? 'true' : 'false');
  }

  function status(text) { if (ui.status) ui.status.textContent = text; }

  function highlight(index) {
    state.blocks.forEach(function (b) { b.el.classList.remove('kl-reading-current'); b.el.removeAttribute('aria-current'); });
    var b = state.blocks[index];
    if (!b) return;
    b.el.classList.add('kl-reading-current');
    b.el.setAttribute('aria-current', 'true');
    var r = b.el.getBoundingClientRect();
    if (r.top < 60 || r.bottom > window.innerHeight - 20) {
      // Smooth scrolling only for readers who have not asked their system for reduced motion.
      var still = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
      b.el.scrollIntoView({ block: 'center', behavior: still ? 'auto' : 'smooth' });
    }
  }

  /** Speak block `index` from its chunk `chunk`. */
  function speak(index, chunk) {
    if (index >= state.blocks.length) { finish(); return; }
    state.index = index;
    state.chunk = chunk;
    var gen = state.generation;
    var parts = chunks(state.blocks[index].text);
    highlight(index);
    status('Reading ' + (index + 1) + ' of ' + state.blocks.length + (state.mode === 'paused' ? ' (paused)' : ''));
    var u = new window.SpeechSynthesisUtterance(parts[chunk]);
    u.lang = document.documentElement.lang || 'en';
    u.rate = parseFloat(ui.rate.value) || 1;
    u.onend = function () {
      if (gen !== state.generation) return; // cancelled by a jump or stop
      if (chunk + 1 < parts.length) speak(index, chunk + 1);
      else speak(index + 1, 0);
    };
    u.onerror = function (e) {
      if (gen !== state.generation) return;
      var error = (e && e.error) || 'unknown';
      if (error === 'interrupted' || error === 'canceled') return;
      if (FATAL.indexOf(error) >= 0) {
        // no voice at all (e.g. Linux without speech-dispatcher): say so instead of racing through the page
        stop('Your browser could not speak (' + error + '): it may have no voice installed.');
        return;
      }
      u.onend(); // a problem with this piece of text only: go on with the next
    };
    synth().speak(u);
  }

  /** Start (or jump) reading at block `index`. */
  function startAt(index) {
    if (!state.blocks.length || state.mode === 'idle') {
      state.blocks = collectBlocks(article);
      state.blocks.forEach(function (b, i) { b.el.setAttribute('data-kl-read-index', String(i)); });
    }
    if (!state.blocks.length) { status('Nothing to read on this page.'); return; }
    state.generation++;
    var s = synth();
    if (s.paused) s.resume(); // Chrome will not speak after cancel() while paused
    s.cancel();
    setMode('playing');
    speak(Math.max(0, Math.min(index, state.blocks.length - 1)), 0);
  }

  function pauseOrResume() {
    if (state.mode === 'playing') {
      synth().pause();
      setMode('paused');
      status('Paused at ' + (state.index + 1) + ' of ' + state.blocks.length);
    } else if (state.mode === 'paused') {
      setMode('playing');
      synth().resume();
      status('Reading ' + (state.index + 1) + ' of ' + state.blocks.length);
    }
  }

  function stop(message) {
    state.generation++;
    var s = synth();
    if (s.paused) s.resume();
    s.cancel();
    state.blocks.forEach(function (b) {
      b.el.classList.remove('kl-reading-current');
      b.el.removeAttribute('aria-current');
      b.el.removeAttribute('data-kl-read-index');
    });
    state.blocks = [];
    state.index = -1;
    setMode('idle');
    status(message || 'Stopped.');
  }

  function finish() { stop('Finished reading the page.'); }

  /** Click-to-jump: only in reading mode, only on a readable block, never on links or controls. */
  function onClick(ev) {
    if (state.mode === 'idle') return;
    var t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.closest('a, button, input, select, textarea, label, summary, .kl-widget, .kl-listen')) return;
    var block = t.closest('[data-kl-read-index]');
    if (!block || !article.contains(block)) return;
    ev.preventDefault();
    startAt(parseInt(block.getAttribute('data-kl-read-index'), 10));
  }

  function onKey(ev) {
    if (ev.key === 'Escape' && state.mode !== 'idle') stop();
  }

  /* ------------------------------------------------------------------------------------------
   * The controls.
   * ---------------------------------------------------------------------------------------- */

  function button(action, text, label) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'kl-listen-button';
    b.setAttribute('data-kl-listen', action);
    b.textContent = text;
    if (label) b.setAttribute('aria-label', label);
    return b;
  }

  function build() {
    article = document.querySelector(CONTENT);
    if (!article) return;
    rememberTex(article);
    var root = document.createElement('div');
    root.className = 'kl-listen';
    root.setAttribute('role', 'group');
    root.setAttribute('aria-label', 'Read this page aloud');
    ui.root = root;
    ui.start = button('start', '\u25b6 Listen', 'Listen: read this page aloud');
    ui.pause = button('pause', 'Pause');
    ui.stop = button('stop', 'Stop', 'Stop reading');
    ui.prev = button('prev', '\u2039', 'Previous paragraph');
    ui.next = button('next', '\u203a', 'Next paragraph');
    var rateId = 'kl-listen-rate';
    var rateLabel = document.createElement('label');
    rateLabel.setAttribute('for', rateId);
    rateLabel.textContent = 'speed';
    ui.rate = document.createElement('select');
    ui.rate.id = rateId;
    ui.rate.setAttribute('data-kl-listen', 'rate');
    [['0.8', '0.8\u00d7'], ['1', '1\u00d7'], ['1.2', '1.2\u00d7'], ['1.5', '1.5\u00d7']].forEach(function (o) {
      var opt = document.createElement('option');
      opt.value = o[0];
      opt.textContent = o[1];
      if (o[0] === '1') opt.selected = true;
      ui.rate.appendChild(opt);
    });
    ui.status = document.createElement('span');
    ui.status.className = 'kl-listen-status';
    ui.status.setAttribute('role', 'status');
    ui.status.setAttribute('aria-live', 'polite');
    [ui.start, ui.pause, ui.prev, ui.next, ui.stop, rateLabel, ui.rate, ui.status].forEach(function (n) { root.appendChild(n); });

    if (!('speechSynthesis' in window) || !('SpeechSynthesisUtterance' in window)) {
      ui.start.disabled = true;
      ui.start.title = 'This browser has no speech synthesis';
      status('Your browser cannot read aloud.');
    }

    ui.start.addEventListener('click', function () {
      status('');
      startAt(0);
    });
    ui.pause.addEventListener('click', pauseOrResume);
    ui.stop.addEventListener('click', function () { stop(); });
    ui.prev.addEventListener('click', function () { startAt(state.index - 1); });
    ui.next.addEventListener('click', function () { startAt(state.index + 1); });
    article.addEventListener('click', onClick);
    document.addEventListener('keydown', onKey);
    window.addEventListener('pagehide', function () { if (state.mode !== 'idle') stop(); });

    // Place the controls under the page title.
    var h1 = article.querySelector('h1');
    if (h1 && h1.parentNode) h1.parentNode.insertBefore(root, h1.nextSibling);
    else article.insertBefore(root, article.firstChild);
    setMode('idle');
  }

  window.KLReadAloud = {
    texToSpeech: texToSpeech,
    collect: function () { return article ? collectBlocks(article).map(function (b) { return b.text; }) : []; },
    state: state,
    start: startAt,
    stop: stop
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build);
  else build();
})();
