// MathJax 3 settings for pymdownx.arithmatex (generic mode); MathJax itself is served from
// assets/mathjax/, copied from the npm package at build time, never from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

