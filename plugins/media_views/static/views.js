// Render every chart of the page with the vendored vega-embed; each chart's Vega-Lite spec (built with
// Altair on the server) sits in a <script type="application/json"> next to it.
(function () {
  "use strict";
  document.querySelectorAll(".chart[data-spec]").forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
    vegaEmbed(el, spec, { actions: false, renderer: "svg" })
      .then(function () { el.dataset.rendered = "1"; })
      .catch(function (err) { el.dataset.rendered = "error"; console.error("chart " + el.id + ": " + err); });
  });
})();
