/*
 * kl-widgets.js: the book's interactive KL widgets, served from the site itself.
 *
 * No Jupyter kernel, no network, no libraries: plain ES2017 and SVG.
 *
 * Any page may contain
 *
 *     <div class="kl-widget" data-widget="discrete"></div>
 *     <div class="kl-widget" data-widget="gaussians"></div>
 *     <div class="kl-widget" data-widget="fit"></div>
 *
 * and this script renders the widget inside it when the page loads.
 *
 * Testing contract (tests/browser/test_playground.py relies on it):
 *   - every slider is an <input type="range"> with data-kl-input="<name>";
 *   - every number shown is an <output> with data-kl-output="<name>", whose data-value
 *     attribute holds the full-precision number ("Infinity" for +inf, "NaN" when undefined)
 *     and whose text is the rounded number a reader sees;
 *   - a rendered widget root carries data-kl-ready="true".
 *
 * Optional attributes on the div preset the starting values, e.g.
 *     data-p="30,25,20,12,8,5" data-q="10,15,20,25,20,10"            (discrete)
 *     data-mu-p="0" data-sigma-p="1" data-mu-q="1" data-sigma-q="2"  (gaussians)
 *     data-sep="4" data-weight="0.5" data-width="1"                  (fit)
 *
 * All divergences are in nats (natural log), as kllib computes them with base=None; bits are
 * nats / ln 2.
 */
(function () {
  'use strict';

  /* Colours with a fixed meaning, the same as kllib.plotting.COLORS in light mode. They are CSS variables
     (kl-widgets.css), so the theme's dark mode gives them lighter shades that keep their contrast. */
  var COLORS = {
    p: 'var(--kl-color-p, #1f5fa8)',
    q: 'var(--kl-color-q, #e07b00)',
    forward: 'var(--kl-color-forward, #2a9d4b)',
    reverse: 'var(--kl-color-reverse, #c0392b)',
    neutral: 'var(--kl-color-neutral, #555555)'
  };
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var uid = 0; // makes element ids unique when a page holds several widgets

  /* ------------------------------------------------------------------------------------------
   * Mathematics. Pure functions, exported as window.KLWidgets.math for tests and the console.
   * ---------------------------------------------------------------------------------------- */

  /** Weights -> probabilities (weights / their sum). Returns null when every weight is 0. */
  function normalise(weights) {
    var total = 0;
    for (var i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0)) return null;
    return weights.map(function (w) { return w / total; });
  }

  /**
   * KL(p || q) = sum_i p_i log(p_i / q_i) in nats.
   * Conventions: a term with p_i = 0 is 0 (0 log 0 = 0); a term with p_i > 0 and q_i = 0 makes the
   * divergence +Infinity (Q gives zero probability to something P says can happen).
   */
  function kl(p, q) {
    var total = 0;
    for (var i = 0; i < p.length; i++) {
      if (p[i] > 0) {
        if (!(q[i] > 0)) return Infinity;
        total += p[i] * Math.log(p[i] / q[i]);
      }
    }
    return total;
  }

  /** Jensen-Shannon divergence in nats: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2. Always finite. */
  function js(p, q) {
    var m = p.map(function (pi, i) { return 0.5 * (pi + q[i]); });
    return 0.5 * kl(p, m) + 0.5 * kl(q, m);
  }

  /** Total variation distance: half the L1 distance, in [0, 1]. */
  function tv(p, q) {
    var total = 0;
    for (var i = 0; i < p.length; i++) total += Math.abs(p[i] - q[i]);
    return 0.5 * total;
  }

  /**
   * Closed-form KL between two univariate normals, in nats:
   * KL(N(mu_p, s_p^2) || N(mu_q, s_q^2)) = log(s_q / s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2.
   */
  function klNormal(muP, sigmaP, muQ, sigmaQ) {
    var d = muP - muQ;
    return Math.log(sigmaQ / sigmaP) + (sigmaP * sigmaP + d * d) / (2 * sigmaQ * sigmaQ) - 0.5;
  }

  /** Density of N(mu, sigma^2) at x. */
  function normalPdf(x, mu, sigma) {
    var z = (x - mu) / sigma;
    return Math.exp(-0.5 * z * z) / (sigma * Math.sqrt(2 * Math.PI));
  }

  /** n evenly spaced points from a to b, computed like numpy.linspace. */
  function linspace(a, b, n) {
    var step = (b - a) / (n - 1);
    var out = new Float64Array(n);
    for (var i = 0; i < n; i++) out[i] = i * step + a;
    out[n - 1] = b;
    return out;
  }

  /** log(sum(exp(v))) without overflow. */
  function logSumExp(v) {
    var m = -Infinity;
    for (var i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
    if (m === -Infinity) return -Infinity;
    var s = 0;
    for (var j = 0; j < v.length; j++) s += Math.exp(v[j] - m);
    return m + Math.log(s);
  }

  /**
   * The bimodal target of the fit widget, normalised on the grid, as log-probabilities:
   * P = w N(-sep/2, width^2) + (1 - w) N(+sep/2, width^2), then log p_i = log p(x_i) - logsumexp.
   * (Identical to kllib.fitting.mixture_logpdf followed by normalisation on the same grid.)
   */
  function mixtureLogProbs(x, w, sep, width) {
    var n = x.length;
    var out = new Float64Array(n);
    var m1 = -sep / 2, m2 = sep / 2;
    var logw1 = Math.log(w), logw2 = Math.log(1 - w);
    var c = -Math.log(width) - 0.5 * Math.log(2 * Math.PI);
    for (var i = 0; i < n; i++) {
      var z1 = (x[i] - m1) / width, z2 = (x[i] - m2) / width;
      var a = logw1 + c - 0.5 * z1 * z1;
      var b = logw2 + c - 0.5 * z2 * z2;
      var hi = Math.max(a, b);
      out[i] = hi + Math.log(Math.exp(a - hi) + Math.exp(b - hi));
    }
    var total = logSumExp(out);
    for (var k = 0; k < n; k++) out[k] -= total;
    return out;
  }

  /** log q_i for q = N(mu, sigma^2) normalised on the grid. */
  function gaussianLogProbs(x, mu, sigma) {
    var n = x.length;
    var out = new Float64Array(n);
    for (var i = 0; i < n; i++) {
      var z = (x[i] - mu) / sigma;
      out[i] = -0.5 * z * z;
    }
    var total = logSumExp(out);
    for (var k = 0; k < n; k++) out[k] -= total;
    return out;
  }

  /**
   * KL on the grid between the target (log-probabilities logp) and N(mu, sigma^2), in nats:
   * "forward" = sum_i p_i (log p_i - log q_i), "reverse" = sum_i q_i (log q_i - log p_i).
   * Same objective as kllib.fitting.grid_kl.
   */
  function gridKl(x, logp, mu, sigma, direction) {
    var logq = gaussianLogProbs(x, mu, sigma);
    var total = 0;
    for (var i = 0; i < x.length; i++) {
      if (direction === 'forward') {
        var p = Math.exp(logp[i]);
        if (p > 0) total += p * (logp[i] - logq[i]);
      } else {
        var q = Math.exp(logq[i]);
        if (q > 0) total += q * (logq[i] - logp[i]);
      }
    }
    return total;
  }

  /** The forward-KL fit: the mean and standard deviation of the target on the grid (moment matching). */
  function momentMatch(x, logp) {
    var mu = 0, v = 0, i;
    for (i = 0; i < x.length; i++) mu += Math.exp(logp[i]) * x[i];
    for (i = 0; i < x.length; i++) v += Math.exp(logp[i]) * (x[i] - mu) * (x[i] - mu);
    return { mu: mu, sigma: Math.sqrt(v) };
  }

  /**
   * Nelder-Mead minimisation of f([a, b]) from start, with initial steps `scale`.
   * Deterministic; stops when the simplex is smaller than xtol and its values agree to ftol.
   */
  function nelderMead(f, start, scale, xtol, ftol, maxIter) {
    var pts = [start.slice(), [start[0] + scale[0], start[1]], [start[0], start[1] + scale[1]]];
    var vals = pts.map(f);
    for (var iter = 0; iter < maxIter; iter++) {
      // order the simplex: best first
      var order = [0, 1, 2].sort(function (i, j) { return vals[i] - vals[j]; });
      pts = order.map(function (i) { return pts[i]; });
      vals = order.map(function (i) { return vals[i]; });
      var size = 0;
      for (var k = 1; k < 3; k++) {
        size = Math.max(size, Math.abs(pts[k][0] - pts[0][0]), Math.abs(pts[k][1] - pts[0][1]));
      }
      if (size < xtol && vals[2] - vals[0] <= ftol * (1 + Math.abs(vals[0]))) break;
      var c = [(pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2]; // centroid of the best two
      var along = function (t) { return [c[0] + t * (pts[2][0] - c[0]), c[1] + t * (pts[2][1] - c[1])]; };
      var r = along(-1), fr = f(r);
      if (fr < vals[0]) {
        var e = along(-2), fe = f(e);
        if (fe < fr) { pts[2] = e; vals[2] = fe; } else { pts[2] = r; vals[2] = fr; }
      } else if (fr < vals[1]) {
        pts[2] = r; vals[2] = fr;
      } else {
        var t = fr < vals[2] ? -0.5 : 0.5; // outside or inside contraction
        var cpt = along(t), fc = f(cpt);
        if (fc < Math.min(fr, vals[2])) {
          pts[2] = cpt; vals[2] = fc;
        } else { // shrink towards the best point
          for (var s = 1; s < 3; s++) {
            pts[s] = [(pts[0][0] + pts[s][0]) / 2, (pts[0][1] + pts[s][1]) / 2];
            vals[s] = f(pts[s]);
          }
        }
      }
    }
    var best = 0;
    for (var b = 1; b < 3; b++) if (vals[b] < vals[best]) best = b;
    return { x: pts[best], f: vals[best] };
  }

  /**
   * The reverse-KL fit: argmin over (mu, sigma) of KL(Q || P) on the grid.
   * A coarse grid search over (mu, log sigma) finds the best basin on each side of the target's
   * mean (a bimodal target has one local optimum per mode); Nelder-Mead polishes both; the better
   * one wins. On an exact tie (a symmetric target) the right-hand mode wins, by convention.
   */
  function reverseFit(x, logp, center) {
    var f = function (v) { return gridKl(x, logp, v[0], Math.exp(v[1]), 'reverse'); };
    // The search for basins uses every 4th grid point (renormalised): 4 times cheaper, same basins.
    var xc = [], lc = [];
    for (var c = 0; c < x.length; c += 4) { xc.push(x[c]); lc.push(logp[c]); }
    var lz = logSumExp(lc);
    lc = lc.map(function (v) { return v - lz; });
    var coarse = function (v) { return gridKl(xc, lc, v[0], Math.exp(v[1]), 'reverse'); };
    var best = { left: null, right: null };
    for (var i = 0; i <= 32; i++) {
      var mu = -8 + i * 0.5;
      for (var j = 0; j <= 12; j++) {
        var ls = Math.log(0.2) + j * (Math.log(6) - Math.log(0.2)) / 12;
        var val = coarse([mu, ls]);
        var side = mu < center ? 'left' : 'right';
        if (best[side] === null || val < best[side].f) best[side] = { x: [mu, ls], f: val };
      }
    }
    var fits = [best.right, best.left].map(function (b) {
      var r = nelderMead(f, b.x, [0.1, 0.1], 1e-10, 1e-15, 2000);
      return { mu: r.x[0], sigma: Math.exp(r.x[1]), kl: r.f };
    });
    // fits[0] started on the right: keep it unless the left one is better by more than rounding
    return fits[1].kl < fits[0].kl - 1e-12 ? fits[1] : fits[0];
  }

  var math = {
    normalise: normalise, kl: kl, js: js, tv: tv, klNormal: klNormal, normalPdf: normalPdf,
    linspace: linspace, mixtureLogProbs: mixtureLogProbs, gaussianLogProbs: gaussianLogProbs,
    gridKl: gridKl, momentMatch: momentMatch, reverseFit: reverseFit, nelderMead: nelderMead
  };

  /* ------------------------------------------------------------------------------------------
   * Small DOM and SVG helpers.
   * ---------------------------------------------------------------------------------------- */

  /** Create an element: el('p', {class: 'x'}, [children or text]). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    // A presentation attribute cannot hold var(--...): colours from CSS variables go into the style.
    ['fill', 'stroke'].forEach(function (k) {
      if (attrs && typeof attrs[k] === 'string' && attrs[k].indexOf('var(') === 0) {
        node.style.setProperty(k, attrs[k]);
        attrs = Object.assign({}, attrs);
        delete attrs[k];
      }
    });
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
  }

  function append(node, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  function fmt(x, digits) {
    if (x === Infinity) return '+\u221e';
    if (x === -Infinity) return '\u2212\u221e';
    if (x !== x) return 'undefined';
    var s = x.toFixed(digits === undefined ? 4 : digits);
    return s === '-' + (0).toFixed(digits === undefined ? 4 : digits) ? s.slice(1) : s; // no "-0.0000"
  }

  /** Show a number in an <output>: rounded text for the reader, full precision in data-value. */
  function show(output, value, digits) {
    output.setAttribute('data-value', String(value));
    output.textContent = fmt(value, digits);
  }

  /** An <output data-kl-output=name>. */
  function out(name) {
    return el('output', { 'data-kl-output': name, 'data-value': '' }, '');
  }

  /**
   * A labelled slider with its current value printed next to it.
   * opts: {name, label, min, max, step, value, unit}
   */
  function slider(prefix, opts) {
    var id = prefix + '-' + opts.name;
    var input = el('input', {
      type: 'range', id: id, min: opts.min, max: opts.max, step: opts.step, value: opts.value,
      'data-kl-input': opts.name
    });
    var label = el('label', { for: id }, opts.label);
    return { input: input, label: label };
  }

  /** Read an attribute holding a number, with a default. */
  function numAttr(root, name, dflt) {
    var v = parseFloat(root.getAttribute(name));
    return isFinite(v) ? v : dflt;
  }

  /** Call fn at most once per animation frame (slider drags fire many input events). */
  function throttled(fn) {
    var pending = false;
    return function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () { pending = false; fn(); });
    };
  }

  /** A result row: label, nats, bits (when withBits). */
  function resultRow(labelNodes, name, withBits, note) {
    var nats = out(name);
    var cells = [el('th', { scope: 'row' }, labelNodes), el('td', null, [nats, withBits ? ' nats' : ''])];
    var bits = null;
    if (withBits) {
      bits = out(name + '_bits');
      cells.push(el('td', null, [bits, ' bits']));
    } else {
      cells.push(el('td', { class: 'kl-muted' }, note || ''));
    }
    return { row: el('tr', null, cells), nats: nats, bits: bits };
  }

  function showNatsBits(row, value) {
    show(row.nats, value);
    if (row.bits) show(row.bits, value / Math.LN2);
  }

  /** Axis-free SVG chart frame: returns {svg, plot group, sx, sy} for a [x0, x1] x [0, ymax] box. */
  function frame(width, height, pad) {
    var root = svg('svg', {
      viewBox: '0 0 ' + width + ' ' + height, class: 'kl-chart', role: 'img', preserveAspectRatio: 'xMidYMid meet'
    });
    return { svg: root, width: width, height: height, pad: pad };
  }

  /* ------------------------------------------------------------------------------------------
   * Widget 1: two discrete distributions over six outcomes.
   * ---------------------------------------------------------------------------------------- */

  var DISCRETE_DEFAULT_P = [30, 25, 20, 12, 8, 5];
  var DISCRETE_DEFAULT_Q = [10, 15, 20, 25, 20, 10];

  function parseList(text, n, dflt) {
    if (!text) return dflt.slice();
    var v = text.split(',').map(function (s) { return parseFloat(s); });
    if (v.length !== n || v.some(function (a) { return !(a >= 0 && a <= 100); })) return dflt.slice();
    return v;
  }

  function renderDiscrete(root) {
    var n = 6;
    var prefix = 'kl-discrete-' + (++uid);
    var start = {
      p: parseList(root.getAttribute('data-p'), n, DISCRETE_DEFAULT_P),
      q: parseList(root.getAttribute('data-q'), n, DISCRETE_DEFAULT_Q)
    };
    var inputs = { p: [], q: [] };
    var probOut = { p: [], q: [] };

    // The table of sliders: one row per outcome, a weight slider and the normalised probability
    // for P and for Q.
    var tbody = el('tbody');
    for (var i = 0; i < n; i++) {
      var cells = [el('th', { scope: 'row' }, 'x' + (i + 1))];
      ['p', 'q'].forEach(function (d) {
        var s = slider(prefix, {
          name: d + i, label: 'weight of x' + (i + 1) + ' in ' + d.toUpperCase(),
          min: 0, max: 100, step: 1, value: start[d][i]
        });
        s.label.className = 'kl-visually-hidden';
        s.input.className = 'kl-slider kl-slider-' + d;
        inputs[d].push(s.input);
        var prob = out(d + i);
        probOut[d].push(prob);
        cells.push(el('td', { class: 'kl-slider-cell' }, [s.label, s.input]));
        cells.push(el('td', { class: 'kl-num' }, prob));
      });
      tbody.appendChild(el('tr', null, cells));
    }
    var table = el('table', { class: 'kl-sliders' }, [
      el('caption', { class: 'kl-visually-hidden' }, 'Weights and probabilities of P and Q'),
      el('thead', null, el('tr', null, [
        el('th', { scope: 'col' }, 'x'),
        el('th', { scope: 'col', class: 'kl-p' }, 'P weight'), el('th', { scope: 'col', class: 'kl-p' }, 'p(x)'),
        el('th', { scope: 'col', class: 'kl-q' }, 'Q weight'), el('th', { scope: 'col', class: 'kl-q' }, 'q(x)')
      ])),
      tbody
    ]);

    // The bar chart.
    var W = 420, H = 190, padL = 34, padB = 24, padT = 14;
    var chart = frame(W, H, padL);
    chart.svg.setAttribute('aria-label', 'Bar chart of p(x) and q(x) for the six outcomes');
    var bars = { p: [], q: [] }, marks = [];
    var groupW = (W - padL - 6) / n;
    var plotH = H - padB - padT;
    var axis = svg('g', { class: 'kl-axis' }); // gridlines and tick labels, redrawn by update()
    chart.svg.appendChild(axis);
    for (var k = 0; k < n; k++) {
      var x0 = padL + k * groupW + groupW * 0.12;
      var bw = groupW * 0.36;
      bars.p.push(svg('rect', { x: x0, width: bw, fill: COLORS.p }));
      bars.q.push(svg('rect', { x: x0 + bw, width: bw, fill: COLORS.q }));
      marks.push(svg('text', {
        x: x0 + 1.5 * bw, y: H - padB - 4, 'text-anchor': 'middle', class: 'kl-zero-mark', visibility: 'hidden'
      }, 'q=0'));
      chart.svg.appendChild(bars.p[k]);
      chart.svg.appendChild(bars.q[k]);
      chart.svg.appendChild(marks[k]);
      chart.svg.appendChild(svg('text', {
        x: padL + (k + 0.5) * groupW, y: H - 6, 'text-anchor': 'middle', class: 'kl-tick'
      }, 'x' + (k + 1)));
    }
    chart.svg.appendChild(svg('line', { x1: padL, x2: W - 4, y1: H - padB, y2: H - padB, class: 'kl-axis-line' }));

    // The results.
    var rows = {
      kl_pq: resultRow(['KL(P \u2016 Q)'], 'kl_pq', true),
      kl_qp: resultRow(['KL(Q \u2016 P)'], 'kl_qp', true),
      js: resultRow(['JS(P, Q)'], 'js', true),
      tv: resultRow(['TV(P, Q)'], 'tv', false, 'no unit, in [0, 1]')
    };
    var results = el('table', { class: 'kl-results', 'aria-live': 'polite' }, [
      el('caption', null, 'Divergences of the normalised distributions'),
      el('tbody', null, Object.keys(rows).map(function (key) { return rows[key].row; }))
    ]);
    var note = el('p', { class: 'kl-note', 'data-kl-output': 'note', 'aria-live': 'polite' });

    var resetBtn = el('button', { type: 'button', class: 'kl-button', 'data-kl-action': 'reset' }, 'Reset');
    var swapBtn = el('button', { type: 'button', class: 'kl-button', 'data-kl-action': 'swap' }, 'Swap P and Q');
    var uniformBtn = el('button', { type: 'button', class: 'kl-button', 'data-kl-action': 'uniform-q' }, 'Make Q uniform');

    root.appendChild(el('p', { class: 'kl-widget-title' }, 'Two distributions over six outcomes'));
    root.appendChild(el('p', { class: 'kl-help' }, [
      'Each slider holds a ', el('em', null, 'weight'), ' from 0 to 100; a distribution is its weights divided by ',
      'their sum, so moving one slider rescales the probabilities of all the others (their weights stay put). ',
      'Drag a Q slider to 0 where P has mass to see KL(P \u2016 Q) become +\u221e. Keyboard: arrows move by 1, ',
      'Page Up/Down by 10, Home sets 0.'
    ]));
    root.appendChild(el('div', { class: 'kl-row' }, [
      el('div', { class: 'kl-col' }, [el('div', { class: 'kl-scroll' }, table),
        el('div', { class: 'kl-buttons' }, [resetBtn, swapBtn, uniformBtn])]),
      el('div', { class: 'kl-col' }, [chart.svg, el('p', { class: 'kl-legend' }, [
        el('span', { class: 'kl-swatch', style: 'background:' + COLORS.p }), ' P  ',
        el('span', { class: 'kl-swatch', style: 'background:' + COLORS.q }), ' Q'
      ]), results, note])
    ]));

    function weights(d) {
      return inputs[d].map(function (inp) { return parseFloat(inp.value); });
    }

    function update() {
      var p = normalise(weights('p'));
      var q = normalise(weights('q'));
      var dists = { p: p, q: q };
      ['p', 'q'].forEach(function (d) {
        for (var j = 0; j < n; j++) {
          var prob = dists[d] ? dists[d][j] : NaN;
          show(probOut[d][j], prob, 3);
          inputs[d][j].setAttribute('aria-valuetext',
            'weight ' + inputs[d][j].value + ', probability ' + fmt(prob, 3));
        }
      });
      // Chart: the y range is the largest probability, rounded up to a tenth.
      var all = (p || []).concat(q || []);
      var ymax = Math.max(0.1, Math.ceil(Math.max.apply(null, all.concat([0])) * 10) / 10);
      var sy = function (v) { return H - padB - plotH * v / ymax; };
      while (axis.firstChild) axis.removeChild(axis.firstChild);
      var tick = ymax <= 0.5 ? 0.1 : 0.2;
      for (var t = 0; t <= ymax + 1e-9; t += tick) {
        axis.appendChild(svg('line', { x1: padL, x2: W - 4, y1: sy(t), y2: sy(t), class: 'kl-grid' }));
        axis.appendChild(svg('text', { x: padL - 4, y: sy(t) + 4, 'text-anchor': 'end', class: 'kl-tick' }, t.toFixed(1)));
      }
      ['p', 'q'].forEach(function (d) {
        for (var j = 0; j < n; j++) {
          var v = dists[d] ? dists[d][j] : 0;
          bars[d][j].setAttribute('y', sy(v));
          bars[d][j].setAttribute('height', Math.max(0, H - padB - sy(v)));
        }
      });
      for (var j = 0; j < n; j++) {
        var bad = p && q && p[j] > 0 && q[j] === 0;
        marks[j].setAttribute('visibility', bad ? 'visible' : 'hidden');
      }

      // Divergences.
      var msgs = [];
      if (!p || !q) {
        ['kl_pq', 'kl_qp', 'js', 'tv'].forEach(function (key) { showNatsBits(rows[key], NaN); });
        if (!p) msgs.push('Every weight of P is 0, so P is not a distribution: give some outcome a positive weight.');
        if (!q) msgs.push('Every weight of Q is 0, so Q is not a distribution: give some outcome a positive weight.');
      } else {
        var klpq = kl(p, q), klqp = kl(q, p);
        showNatsBits(rows.kl_pq, klpq);
        showNatsBits(rows.kl_qp, klqp);
        showNatsBits(rows.js, js(p, q));
        show(rows.tv.nats, tv(p, q));
        var outcomes = function (a, b) {
          var names = [];
          for (var j = 0; j < n; j++) if (a[j] > 0 && b[j] === 0) names.push('x' + (j + 1));
          return names.join(', ');
        };
        if (klpq === Infinity) {
          msgs.push('KL(P \u2016 Q) = +\u221e: Q gives probability 0 to ' + outcomes(p, q) +
                    ', which P says can happen.');
        }
        if (klqp === Infinity) {
          msgs.push('KL(Q \u2016 P) = +\u221e: P gives probability 0 to ' + outcomes(q, p) +
                    ', which Q says can happen.');
        }
        if (msgs.length) msgs.push('JS and TV stay finite.');
      }
      note.textContent = msgs.join(' ');
    }

    var onInput = throttled(update);
    ['p', 'q'].forEach(function (d) {
      inputs[d].forEach(function (inp) {
        inp.addEventListener('input', onInput);
        inp.addEventListener('change', update);
      });
    });
    function setAll(d, values) {
      inputs[d].forEach(function (inp, j) { inp.value = values[j]; });
    }
    resetBtn.addEventListener('click', function () { setAll('p', start.p); setAll('q', start.q); update(); });
    swapBtn.addEventListener('click', function () {
      var p = weights('p'), q = weights('q');
      setAll('p', q); setAll('q', p); update();
    });
    uniformBtn.addEventListener('click', function () { setAll('q', [50, 50, 50, 50, 50, 50]); update(); });
    root.klUpdate = update; // synchronous recompute, for tests and other scripts
    update();
  }

  /* ------------------------------------------------------------------------------------------
   * Widget 2: two Gaussians, closed-form KL both ways.
   * ---------------------------------------------------------------------------------------- */

  function renderGaussians(root) {
    var prefix = 'kl-gauss-' + (++uid);
    var specs = [
      { name: 'mu_p', label: '\u03bc of P (mean)', min: -4, max: 4, step: 0.1, value: numAttr(root, 'data-mu-p', 0), dist: 'p' },
      { name: 'sigma_p', label: '\u03c3 of P (standard deviation)', min: 0.2, max: 3, step: 0.05, value: numAttr(root, 'data-sigma-p', 1), dist: 'p' },
      { name: 'mu_q', label: '\u03bc of Q (mean)', min: -4, max: 4, step: 0.1, value: numAttr(root, 'data-mu-q', 1), dist: 'q' },
      { name: 'sigma_q', label: '\u03c3 of Q (standard deviation)', min: 0.2, max: 3, step: 0.05, value: numAttr(root, 'data-sigma-q', 2), dist: 'q' }
    ];
    var inputs = {}, echoes = {};
    var controls = el('div', { class: 'kl-controls' });
    specs.forEach(function (s) {
      var sl = slider(prefix, s);
      sl.input.className = 'kl-slider kl-slider-' + s.dist;
      inputs[s.name] = sl.input;
      echoes[s.name] = out(s.name);
      controls.appendChild(el('div', { class: 'kl-control kl-' + s.dist }, [sl.label, sl.input, echoes[s.name]]));
    });

    var W = 420, H = 200, padL = 10, padB = 22, padT = 10;
    var X0 = -8, X1 = 8;
    var chart = frame(W, H, padL);
    chart.svg.setAttribute('aria-label', 'Densities of P (blue) and Q (orange)');
    var sx = function (x) { return padL + (W - 2 * padL) * (x - X0) / (X1 - X0); };
    for (var t = X0; t <= X1; t += 2) {
      chart.svg.appendChild(svg('line', { x1: sx(t), x2: sx(t), y1: padT, y2: H - padB, class: 'kl-grid' }));
      chart.svg.appendChild(svg('text', { x: sx(t), y: H - 6, 'text-anchor': 'middle', class: 'kl-tick' }, String(t)));
    }
    chart.svg.appendChild(svg('line', { x1: padL, x2: W - padL, y1: H - padB, y2: H - padB, class: 'kl-axis-line' }));
    var curves = {
      p: svg('path', { fill: COLORS.p, 'fill-opacity': 0.18, stroke: COLORS.p, 'stroke-width': 2 }),
      q: svg('path', { fill: COLORS.q, 'fill-opacity': 0.18, stroke: COLORS.q, 'stroke-width': 2 })
    };
    chart.svg.appendChild(curves.p);
    chart.svg.appendChild(curves.q);

    var rows = {
      kl_pq: resultRow(['KL(P \u2016 Q)'], 'kl_pq', true),
      kl_qp: resultRow(['KL(Q \u2016 P)'], 'kl_qp', true)
    };
    var results = el('table', { class: 'kl-results', 'aria-live': 'polite' }, [
      el('caption', null, 'Closed form: log(\u03c3_Q/\u03c3_P) + (\u03c3_P\u00b2 + (\u03bc_P \u2212 \u03bc_Q)\u00b2) / (2\u03c3_Q\u00b2) \u2212 \u00bd'),
      el('tbody', null, [rows.kl_pq.row, rows.kl_qp.row])
    ]);

    root.appendChild(el('p', { class: 'kl-widget-title' }, 'Two Gaussians'));
    root.appendChild(el('p', { class: 'kl-help' },
      'P = N(\u03bc_P, \u03c3_P\u00b2) in blue, Q = N(\u03bc_Q, \u03c3_Q\u00b2) in orange. The two directions differ ' +
      'unless the standard deviations are equal. Try a narrow Q inside a wide P, then swap them.'));
    root.appendChild(el('div', { class: 'kl-row' }, [
      el('div', { class: 'kl-col' }, [controls]),
      el('div', { class: 'kl-col' }, [chart.svg, results])
    ]));

    function value(name) { return parseFloat(inputs[name].value); }

    function path(mu, sigma, ymax) {
      var n = 241, d = '';
      var plotH = H - padB - padT;
      for (var i = 0; i < n; i++) {
        var x = X0 + (X1 - X0) * i / (n - 1);
        var y = H - padB - plotH * normalPdf(x, mu, sigma) / ymax;
        d += (i ? 'L' : 'M') + sx(x).toFixed(2) + ',' + y.toFixed(2);
      }
      return d + 'L' + sx(X1).toFixed(2) + ',' + (H - padB) + 'L' + sx(X0).toFixed(2) + ',' + (H - padB) + 'Z';
    }

    function update() {
      var v = {};
      specs.forEach(function (s) { v[s.name] = value(s.name); show(echoes[s.name], v[s.name], 2); });
      var ymax = 1.05 * Math.max(normalPdf(0, 0, v.sigma_p), normalPdf(0, 0, v.sigma_q));
      curves.p.setAttribute('d', path(v.mu_p, v.sigma_p, ymax));
      curves.q.setAttribute('d', path(v.mu_q, v.sigma_q, ymax));
      showNatsBits(rows.kl_pq, klNormal(v.mu_p, v.sigma_p, v.mu_q, v.sigma_q));
      showNatsBits(rows.kl_qp, klNormal(v.mu_q, v.sigma_q, v.mu_p, v.sigma_p));
    }
    var onInput = throttled(update);
    Object.keys(inputs).forEach(function (k) {
      inputs[k].addEventListener('input', onInput);
      inputs[k].addEventListener('change', update);
    });
    root.klUpdate = update;
    update();
  }

  /* ------------------------------------------------------------------------------------------
   * Widget 3: forward vs reverse KL fit of one Gaussian to a two-mode target.
   * ---------------------------------------------------------------------------------------- */

  /* The grid every fit is computed on (also published on the widget as data-kl-grid). */
  var FIT_GRID = { min: -20, max: 20, n: 2001 };

  function renderFit(root) {
    var prefix = 'kl-fit-' + (++uid);
    var x = linspace(FIT_GRID.min, FIT_GRID.max, FIT_GRID.n);
    root.setAttribute('data-kl-grid', FIT_GRID.min + ',' + FIT_GRID.max + ',' + FIT_GRID.n);
    var specs = [
      { name: 'sep', label: 'separation of the two modes', min: 0, max: 10, step: 0.1, value: numAttr(root, 'data-sep', 6) },
      { name: 'weight', label: 'weight of the left mode', min: 0.05, max: 0.95, step: 0.05, value: numAttr(root, 'data-weight', 0.5) },
      { name: 'width', label: 'standard deviation of each mode', min: 0.3, max: 1.5, step: 0.05, value: numAttr(root, 'data-width', 1) }
    ];
    var inputs = {}, echoes = {};
    var controls = el('div', { class: 'kl-controls' });
    specs.forEach(function (s) {
      var sl = slider(prefix, s);
      sl.input.className = 'kl-slider';
      inputs[s.name] = sl.input;
      echoes[s.name] = out(s.name);
      controls.appendChild(el('div', { class: 'kl-control' }, [sl.label, sl.input, echoes[s.name]]));
    });

    var W = 420, H = 210, padL = 10, padB = 22, padT = 10;
    var X0 = -10, X1 = 10;
    var chart = frame(W, H, padL);
    chart.svg.setAttribute('aria-label', 'The target P and the two Gaussian fits');
    var sx = function (v) { return padL + (W - 2 * padL) * (v - X0) / (X1 - X0); };
    for (var t = X0; t <= X1; t += 2) {
      chart.svg.appendChild(svg('line', { x1: sx(t), x2: sx(t), y1: padT, y2: H - padB, class: 'kl-grid' }));
      chart.svg.appendChild(svg('text', { x: sx(t), y: H - 6, 'text-anchor': 'middle', class: 'kl-tick' }, String(t)));
    }
    chart.svg.appendChild(svg('line', { x1: padL, x2: W - padL, y1: H - padB, y2: H - padB, class: 'kl-axis-line' }));
    var curves = {
      p: svg('path', { fill: COLORS.p, 'fill-opacity': 0.2, stroke: COLORS.p, 'stroke-width': 2 }),
      fwd: svg('path', { fill: 'none', stroke: COLORS.forward, 'stroke-width': 2.5 }),
      rev: svg('path', { fill: 'none', stroke: COLORS.reverse, 'stroke-width': 2.5, 'stroke-dasharray': '7 4' })
    };
    chart.svg.appendChild(curves.p);
    chart.svg.appendChild(curves.fwd);
    chart.svg.appendChild(curves.rev);

    // Results: one row per fit, its parameters, and its KL in both directions.
    var o = {};
    ['fwd_mu', 'fwd_sigma', 'fwd_kl_pq', 'fwd_kl_qp', 'rev_mu', 'rev_sigma', 'rev_kl_pq', 'rev_kl_qp'].forEach(function (k) {
      o[k] = out(k);
    });
    var results = el('table', { class: 'kl-results kl-fit-table', 'aria-live': 'polite' }, [
      el('caption', null, 'The best single Gaussian Q = N(\u03bc, \u03c3\u00b2) under each direction (KL in nats)'),
      el('thead', null, el('tr', null, [
        el('th', { scope: 'col' }, 'fit'), el('th', { scope: 'col' }, '\u03bc'), el('th', { scope: 'col' }, '\u03c3'),
        el('th', { scope: 'col' }, 'KL(P \u2016 Q)'), el('th', { scope: 'col' }, 'KL(Q \u2016 P)')
      ])),
      el('tbody', null, [
        el('tr', null, [el('th', { scope: 'row', class: 'kl-fwd' }, 'forward: min KL(P \u2016 Q)'),
          el('td', null, o.fwd_mu), el('td', null, o.fwd_sigma), el('td', { class: 'kl-minimised' }, o.fwd_kl_pq), el('td', null, o.fwd_kl_qp)]),
        el('tr', null, [el('th', { scope: 'row', class: 'kl-rev' }, 'reverse: min KL(Q \u2016 P)'),
          el('td', null, o.rev_mu), el('td', null, o.rev_sigma), el('td', null, o.rev_kl_pq), el('td', { class: 'kl-minimised' }, o.rev_kl_qp)])
      ])
    ]);
    var note = el('p', { class: 'kl-note kl-info', 'data-kl-output': 'note' });

    root.appendChild(el('p', { class: 'kl-widget-title' }, 'Forward vs reverse KL: fitting one Gaussian to two modes'));
    root.appendChild(el('p', { class: 'kl-help' }, [
      'The target P (blue) mixes two Gaussians. The ', el('span', { class: 'kl-fwd' }, 'forward fit (solid green)'),
      ' minimises KL(P \u2016 Q): it matches the mean and variance of P and covers both modes. The ',
      el('span', { class: 'kl-rev' }, 'reverse fit (dashed red)'), ' minimises KL(Q \u2016 P): it avoids the gap where ',
      'P is small and sits on one mode. Both are computed in your browser, on an evenly spaced grid of ' +
      FIT_GRID.n + ' points from ' + FIT_GRID.min + ' to ' + FIT_GRID.max + '.'
    ]));
    root.appendChild(el('div', { class: 'kl-row' }, [
      el('div', { class: 'kl-col' }, [controls, note]),
      el('div', { class: 'kl-col' }, [chart.svg, el('p', { class: 'kl-legend' }, [
        el('span', { class: 'kl-swatch', style: 'background:' + COLORS.p }), ' target P  ',
        el('span', { class: 'kl-swatch', style: 'background:' + COLORS.forward }), ' forward fit  ',
        el('span', { class: 'kl-swatch', style: 'background:' + COLORS.reverse }), ' reverse fit'
      ])])
    ]));
    root.appendChild(results);

    function value(name) { return parseFloat(inputs[name].value); }

    function path(density, ymax, closed) {
      var n = 301, d = '';
      var plotH = H - padB - padT;
      for (var i = 0; i < n; i++) {
        var xv = X0 + (X1 - X0) * i / (n - 1);
        var y = H - padB - plotH * Math.min(density(xv) / ymax, 1.02);
        d += (i ? 'L' : 'M') + sx(xv).toFixed(2) + ',' + y.toFixed(2);
      }
      if (closed) d += 'L' + sx(X1).toFixed(2) + ',' + (H - padB) + 'L' + sx(X0).toFixed(2) + ',' + (H - padB) + 'Z';
      return d;
    }

    function update() {
      var sep = value('sep'), w = value('weight'), width = value('width');
      show(echoes.sep, sep, 1);
      show(echoes.weight, w, 2);
      show(echoes.width, width, 2);
      var logp = mixtureLogProbs(x, w, sep, width);
      var fwd = momentMatch(x, logp);
      var rev = reverseFit(x, logp, fwd.mu);
      var res = {
        fwd_mu: fwd.mu, fwd_sigma: fwd.sigma,
        fwd_kl_pq: gridKl(x, logp, fwd.mu, fwd.sigma, 'forward'),
        fwd_kl_qp: gridKl(x, logp, fwd.mu, fwd.sigma, 'reverse'),
        rev_mu: rev.mu, rev_sigma: rev.sigma,
        rev_kl_pq: gridKl(x, logp, rev.mu, rev.sigma, 'forward'),
        rev_kl_qp: rev.kl
      };
      Object.keys(res).forEach(function (k) { show(o[k], res[k], k.indexOf('kl') >= 0 ? 4 : 3); });

      var pdf = function (v) {
        return w * normalPdf(v, -sep / 2, width) + (1 - w) * normalPdf(v, sep / 2, width);
      };
      var ymax = 1.1 * Math.max(pdf(-sep / 2), pdf(sep / 2), normalPdf(0, 0, rev.sigma), normalPdf(0, 0, fwd.sigma));
      curves.p.setAttribute('d', path(pdf, ymax, true));
      curves.fwd.setAttribute('d', path(function (v) { return normalPdf(v, fwd.mu, fwd.sigma); }, ymax, false));
      curves.rev.setAttribute('d', path(function (v) { return normalPdf(v, rev.mu, rev.sigma); }, ymax, false));

      var symmetric = Math.abs(w - 0.5) < 1e-12 && Math.abs(rev.mu - fwd.mu) > 1e-3;
      note.textContent = symmetric
        ? 'With equal weights the two modes are equally good for the reverse fit: its mirror image, \u03bc = ' +
          fmt(2 * fwd.mu - rev.mu, 3) + ', is an optimum too (the widget shows the right-hand one).'
        : '';
    }
    var onInput = throttled(update);
    Object.keys(inputs).forEach(function (k) {
      inputs[k].addEventListener('input', onInput);
      inputs[k].addEventListener('change', update);
    });
    root.klUpdate = update;
    update();
  }

  /* ------------------------------------------------------------------------------------------
   * Find the widget placeholders and render them.
   * ---------------------------------------------------------------------------------------- */

  var RENDERERS = { discrete: renderDiscrete, gaussians: renderGaussians, fit: renderFit };

  function renderAll(scope) {
    var nodes = (scope || document).querySelectorAll('div.kl-widget[data-widget]');
    Array.prototype.forEach.call(nodes, function (root) {
      if (root.getAttribute('data-kl-ready')) return;
      var kind = root.getAttribute('data-widget');
      var render = RENDERERS[kind];
      root.textContent = '';
      if (!render) {
        root.appendChild(el('p', { class: 'kl-note' },
          'Unknown widget "' + kind + '": use data-widget="discrete", "gaussians" or "fit".'));
        root.setAttribute('data-kl-ready', 'error');
        return;
      }
      root.classList.add('kl-widget-' + kind);
      root.setAttribute('role', 'group');
      render(root);
      var title = root.querySelector('.kl-widget-title');
      if (title) {
        title.id = title.id || ('kl-title-' + (++uid));
        root.setAttribute('aria-labelledby', title.id);
      }
      root.setAttribute('data-kl-ready', 'true');
    });
  }

  window.KLWidgets = { math: math, renderAll: renderAll, FIT_GRID: FIT_GRID };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { renderAll(); });
  } else {
    renderAll();
  }
})();
