/* Interactive figures: anagrams that turn into their second reading, hybrids seen from a distance, a frame scrubber
   over a GIF's sprite sheet (or over a few stills), and a before/after slider (over one edit or one per level). The markup comes from templates/_interactive.md.j2 and works
   without this script (every image is shown as it is); this script only enhances it. Styles: stylesheets/figures.css. */
(() => {
  "use strict";

  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  let uid = 0;
  const nextId = (prefix) => `gen-${prefix}-${++uid}`;

  function element(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function captionOf(figure) {
    const caption = figure && figure.querySelector(":scope > figcaption");
    return caption ? caption.textContent.trim() : "";
  }

  /* ---------- Anagram: one image that turns into its second reading ---------- */

  // Each view as a turn of the first reading, from rest to turned (CSS: x right, y down, positive angles clockwise).
  // The 3-D turns end flat, so their last frame is exactly the reflection: a half turn about an in-plane axis n maps
  // (x, y) to the reflection of (x, y) in n.
  const TURNS = {
    rot90: ["rotate(0deg)", "rotate(-90deg)"], // torch.rot90(x, 1): a quarter turn counter-clockwise
    rot180: ["rotate(0deg)", "rotate(-180deg)"],
    rot270: ["rotate(0deg)", "rotate(90deg)"], // three quarters counter-clockwise = one clockwise
    flip: ["perspective(60em) rotateX(0deg)", "perspective(60em) rotateX(180deg)"], // rows reversed: (x, y) → (x, −y)
    mirror: ["perspective(60em) rotateY(0deg)", "perspective(60em) rotateY(180deg)"], // columns reversed: (x, −y) → (−x, y)
    transpose: ["perspective(60em) rotate3d(1, 1, 0, 0deg)", "perspective(60em) rotate3d(1, 1, 0, 180deg)"], // (x, y) → (y, x)
    antitranspose: ["perspective(60em) rotate3d(1, -1, 0, 0deg)", "perspective(60em) rotate3d(1, -1, 0, 180deg)"], // (x, y) → (−y, −x)
  };
  const VIEW_WORDS = {
    rot90: "turned a quarter turn to the left",
    rot180: "turned upside down",
    rot270: "turned a quarter turn to the right",
    flip: "flipped upside down",
    mirror: "mirrored left to right",
    transpose: "reflected in its diagonal",
    antitranspose: "reflected in its other diagonal",
    negate: "negated",
    jigsaw: "with its jigsaw pieces moved",
    patch_permute: "with its patches shuffled",
    patch_perm: "with its patches shuffled",
  };
  const DEMO_DELAY_MS = 400;
  const DEMO_HOLD_MS = 1400;

  // Plays each anagram's turn once, the first time most of it is on screen.
  const demoObserver = "IntersectionObserver" in window ? new IntersectionObserver((entries, observer) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      if (entry.target.genDemo) entry.target.genDemo();
    }
  }, { threshold: 0.6 }) : null;

  function enhanceAnagram(figure) {
    const images = figure.querySelectorAll(".gen-anagram__reading img");
    if (images.length !== 2) return;
    const view = figure.dataset.view || "";
    const turn = TURNS[view];
    const readings = Array.from(figure.querySelectorAll(".gen-anagram__reading"), (reading) => captionOf(reading) || reading.querySelector("img").alt);

    const card = element("span", { class: "gen-anagram__card" }, [images[0], images[1]]);
    const button = element("button", {
      type: "button",
      class: "gen-anagram__turn",
      "aria-pressed": "false",
      "aria-label": `Show the image ${VIEW_WORDS[view] || "through its view"}`,
    }, [card, element("span", { class: "gen-anagram__icon", "aria-hidden": "true", text: turn ? "↻" : "⇄" })]);
    const now = element("p", { class: "gen-anagram__now", "aria-live": "polite" });
    figure.querySelector(".gen-anagram__readings").replaceWith(button, now);
    figure.dataset.motion = turn ? "turn" : "fade";
    if (turn) {
      figure.style.setProperty("--gen-rest", turn[0]);
      figure.style.setProperty("--gen-turned", turn[1]);
    }

    // What shows: the kept state (aria-pressed), previewed by hovering with a mouse, or the one-time demo.
    const state = { pressed: false, preview: false, demo: false, timers: [] };
    const show = (announce = true) => {
      const second = state.pressed !== state.preview !== state.demo;
      figure.dataset.shown = second ? "second" : "first";
      button.setAttribute("aria-pressed", String(state.pressed));
      now.setAttribute("aria-live", announce ? "polite" : "off"); // the demo turns silently
      now.textContent = readings[second ? 1 : 0];
    };
    const stopDemo = () => {
      state.timers.forEach(clearTimeout);
      state.timers = [];
      state.demo = false;
    };
    button.addEventListener("click", () => {
      stopDemo();
      state.pressed = !state.pressed;
      state.preview = false; // a click keeps what hovering previewed, so leaving does not turn it back
      show();
    });
    button.addEventListener("pointerenter", (event) => {
      if (event.pointerType !== "mouse") return;
      stopDemo();
      state.preview = true;
      show();
    });
    button.addEventListener("pointerleave", (event) => {
      if (event.pointerType !== "mouse" || !state.preview) return;
      state.preview = false;
      show();
    });
    figure.genDemo = () => {
      if (reducedMotion.matches || state.pressed || state.preview) return;
      const duration = parseFloat(getComputedStyle(card).transitionDuration) * 1000 || 0;
      state.timers.push(setTimeout(() => { state.demo = true; show(false); }, DEMO_DELAY_MS));
      state.timers.push(setTimeout(() => { state.demo = false; show(false); }, DEMO_DELAY_MS + duration + DEMO_HOLD_MS));
    };
    show(false);
    if (demoObserver) demoObserver.observe(figure);
  }

  /* ---------- Hybrid: the same image from farther away ---------- */

  const FARTHEST = 6.5; // the image at 1/6.5 ≈ 15% of its size

  function enhanceHybrid(figure) {
    const image = figure.querySelector(":scope > img");
    if (!image) return;
    const id = nextId("distance");
    const stage = element("div", { class: "gen-hybrid__stage" });
    image.replaceWith(stage);
    stage.append(image);
    const setRatio = () => { if (image.naturalWidth) stage.style.aspectRatio = `${image.naturalWidth} / ${image.naturalHeight}`; };
    if (image.complete) setRatio(); else image.addEventListener("load", setRatio, { once: true });

    const input = element("input", { type: "range", id, min: "1", max: String(FARTHEST), step: "0.1", value: "1" });
    const output = element("output", { for: id, class: "gen-hybrid__output" });
    const controls = element("div", { class: "gen-controls gen-hybrid__controls" }, [
      element("label", { for: id, text: "Viewing distance" }), input, output,
    ]);
    stage.after(controls);
    stage.style.setProperty("--gen-far", String(1 / FARTHEST));
    const update = () => {
      const distance = Number(input.value);
      const percent = Math.round(100 / distance);
      figure.style.setProperty("--gen-size", String(1 / distance));
      const words = distance === 1 ? "as close as printed" : `from ${distance.toFixed(1)}× as far`;
      output.textContent = `${words}: ${percent}% of its size`;
      input.setAttribute("aria-valuetext", output.textContent);
    };
    input.addEventListener("input", update);
    update();
  }

  /* ---------- Scrubber: every frame of a GIF from one sprite sheet, or a few stills one at a time ---------- */

  const STILL_MS = 700; // a still of a series (not an animation) shows this long when played

  function labelsOf(figure) {
    try {
      const labels = JSON.parse(figure.dataset.labels || "[]");
      return Array.isArray(labels) ? labels : [];
    } catch (error) {
      return [];
    }
  }

  // Loads a scrubber's sheet when the figure comes near the screen, not with the page.
  const sheetObserver = "IntersectionObserver" in window ? new IntersectionObserver((entries, observer) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      entry.target.genLoad();
    }
  }, { rootMargin: "50% 0px" }) : null;

  function enhanceScrub(figure) {
    if (figure.querySelector(":scope > .gen-scrub__stills")) {
      buildStills(figure);
      return;
    }
    const gif = figure.querySelector(":scope > img");
    if (!gif || !figure.dataset.sprite) return;
    figure.genLoad = () => {
      const sprite = new Image();
      sprite.addEventListener("load", () => {
        const sized = Number(figure.dataset.frameW) && Number(figure.dataset.frameH);
        if (sized || (gif.complete && gif.naturalWidth)) buildScrub(figure, gif, sprite);
        else gif.addEventListener("load", () => buildScrub(figure, gif, sprite), { once: true });
      }, { once: true });
      sprite.src = figure.dataset.sprite; // a sheet that does not load leaves the GIF as it is
    };
    if (sheetObserver) sheetObserver.observe(figure); else figure.genLoad();
  }

  // Play/pause, a frame slider and the frame's label, shared by both kinds; `draw(k, label)` shows frame k.
  function scrubControls(figure, frames, labelOf, frameMs, draw, extra = []) {
    const id = nextId("frame");
    const play = element("button", { type: "button", class: "gen-scrub__play", "aria-pressed": "false", text: "Play" });
    const input = element("input", { type: "range", id, min: "0", max: String(frames - 1), step: "1", value: "0" });
    const output = element("output", { for: id, class: "gen-scrub__label" });
    const controls = element("div", { class: "gen-controls gen-scrub__controls" }, [
      play, element("label", { for: id, class: "gen-visually-hidden", text: "Frame" }), input, ...extra, output,
    ]);

    let frame = 0;
    let timer = null;
    const showFrame = (k) => {
      frame = Math.max(0, Math.min(frames - 1, k));
      draw(frame, labelOf(frame));
      input.value = String(frame);
      output.textContent = labelOf(frame);
      input.setAttribute("aria-valuetext", labelOf(frame));
      figure.dataset.frame = String(frame);
    };
    const pause = () => {
      clearInterval(timer);
      timer = null;
      play.textContent = "Play";
      play.setAttribute("aria-pressed", "false");
    };
    const tick = () => {
      if (!figure.isConnected || frame >= frames - 1) { pause(); return; }
      showFrame(frame + 1);
      if (frame >= frames - 1) pause();
    };
    play.addEventListener("click", () => {
      if (timer) { pause(); return; }
      if (frame >= frames - 1) showFrame(0);
      timer = setInterval(tick, frameMs);
      play.textContent = "Pause";
      play.setAttribute("aria-pressed", "true");
    });
    input.addEventListener("input", () => { pause(); showFrame(Number(input.value)); });
    const start = Number(figure.dataset.start) || 0;
    showFrame(start < 0 ? frames + start : start);
    return controls;
  }

  function buildScrub(figure, gif, sprite) {
    const data = figure.dataset;
    const frameW = Number(data.frameW) || gif.naturalWidth;
    const frameH = Number(data.frameH) || gif.naturalHeight;
    const cols = Number(data.cols) || Math.max(1, Math.round(sprite.naturalWidth / frameW));
    const rows = Number(data.rows) || Math.max(1, Math.round(sprite.naturalHeight / frameH));
    const frames = Math.min(Number(data.frames) || cols * rows, cols * rows);
    const labels = labelsOf(figure);
    const labelOf = (k) => (labels[k] != null ? String(labels[k]) : `step ${k + 1} of ${frames}`);
    const caption = captionOf(figure) || gif.alt;

    const view = element("div", { class: "gen-scrub__frame", role: "img" });
    view.style.backgroundImage = `url("${sprite.src}")`;
    view.style.backgroundSize = `${cols * 100}% ${rows * 100}%`;
    view.style.aspectRatio = `${frameW} / ${frameH}`;
    const download = element("a", { href: gif.getAttribute("src"), class: "gen-scrub__download", download: "", text: "GIF" });
    download.setAttribute("aria-label", "Download the animation as a GIF");
    const controls = scrubControls(figure, frames, labelOf, Number(data.frameMs) || 100, (k, label) => {
      const col = k % cols;
      const row = Math.floor(k / cols);
      view.style.backgroundPosition = `${cols > 1 ? (100 * col) / (cols - 1) : 0}% ${rows > 1 ? (100 * row) / (rows - 1) : 0}%`;
      view.setAttribute("aria-label", `${caption} (${label})`);
    }, [download]);
    gif.hidden = true;
    gif.after(view, controls);
  }

  // A series of stills (an image at several noise levels): one place, one still at a time.
  function buildStills(figure) {
    const stills = Array.from(figure.querySelectorAll(".gen-scrub__still"));
    if (stills.length < 2) return;
    const images = stills.map((still) => still.querySelector("img"));
    const labels = labelsOf(figure);
    const labelOf = (k) => (labels[k] != null ? String(labels[k]) : captionOf(stills[k]) || images[k].alt);
    const caption = captionOf(figure);
    const stack = element("div", { class: "gen-scrub__stack", role: "img" }, images);
    const controls = scrubControls(figure, images.length, labelOf, Number(figure.dataset.frameMs) || STILL_MS, (k, label) => {
      images.forEach((image, i) => image.classList.toggle("gen-scrub__shown", i === k));
      stack.setAttribute("aria-label", caption ? `${caption} (${label})` : label);
    });
    figure.querySelector(":scope > .gen-scrub__stills").replaceWith(stack, controls);
  }

  /* ---------- Before/after: the edit revealed over the original, at one of several levels ---------- */

  function enhanceCompare(figure) {
    const parts = Array.from(figure.querySelectorAll(".gen-compare__part"));
    if (parts.length < 2) return;
    const [before, ...afters] = parts.map((part) => part.querySelector("img"));
    const [beforeName, ...afterNames] = parts.map((part) => captionOf(part) || part.querySelector("img").alt);
    const labels = labelsOf(figure);
    const levelName = (k) => (labels[k] != null ? String(labels[k]) : afterNames[k]);
    const line = element("span", { class: "gen-compare__line", "aria-hidden": "true" });
    const stage = element("div", { class: "gen-compare__stage" }, [before, ...afters, line]);
    before.classList.add("gen-compare__before");
    const id = nextId("reveal");
    const input = element("input", { type: "range", id, min: "0", max: "100", step: "1", value: "50" });
    const controls = [element("div", { class: "gen-controls gen-compare__controls" }, [
      element("label", { for: id, text: "Reveal the edit" }), input,
    ])];
    // Several edits (one per noise level): a second slider picks the one shown.
    let level = 0;
    let levelInput = null;
    if (afters.length > 1) {
      const levelId = nextId("level");
      level = Math.min(afters.length - 1, Math.max(0, Number(figure.dataset.start) || Math.floor((afters.length - 1) / 2)));
      levelInput = element("input", { type: "range", id: levelId, min: "0", max: String(afters.length - 1), step: "1", value: String(level) });
      controls.unshift(element("div", { class: "gen-controls gen-compare__controls gen-compare__levels" }, [
        element("label", { for: levelId, text: figure.dataset.levelName || "Level" }), levelInput,
      ]));
    }
    // The edit shows left of the line, the original right of it.
    const afterLabel = element("span");
    const names = element("p", { class: "gen-compare__names", "aria-hidden": "true" }, [
      afterLabel, element("span", { text: `${beforeName} ▸` }),
    ]);
    figure.querySelector(".gen-compare__parts").replaceWith(stage, ...controls, names);
    const update = () => {
      const percent = Number(input.value);
      afters.forEach((after, k) => {
        after.classList.toggle("gen-compare__after", k === level);
        after.classList.toggle("gen-compare__other", k !== level);
        after.style.clipPath = k === level ? `inset(0 ${100 - percent}% 0 0)` : "";
      });
      line.style.left = `${percent}%`;
      afterLabel.textContent = `◂ ${afters.length > 1 ? levelName(level) : afterNames[0]}`;
      input.setAttribute("aria-valuetext", `${percent}% edited`);
      if (levelInput) levelInput.setAttribute("aria-valuetext", levelName(level));
      figure.dataset.level = String(level);
    };
    input.addEventListener("input", update);
    if (levelInput) levelInput.addEventListener("input", () => { level = Number(levelInput.value); update(); });
    update();
  }

  /* ---------- Wiring: on load, and after each of Material's instant page loads ---------- */

  const ENHANCERS = [
    [".gen-anagram", enhanceAnagram],
    [".gen-hybrid", enhanceHybrid],
    [".gen-scrub", enhanceScrub],
    [".gen-compare", enhanceCompare],
  ];

  function enhance(root) {
    for (const [selector, enhancer] of ENHANCERS) {
      for (const figure of root.querySelectorAll(`figure${selector}:not([data-enhanced])`)) {
        figure.dataset.enhanced = "";
        try {
          enhancer(figure);
        } catch (error) {
          console.warn("figures.js: left a figure as it is", error); // a figure that cannot be enhanced stays static
        }
      }
    }
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(() => enhance(document));
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhance(document));
  } else {
    enhance(document);
  }
})();
