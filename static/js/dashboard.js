/* The dashboard's charts, and the Reports page's. Data comes from json_script elements (id "chart-<name>") that
 * the server renders; each <canvas data-chart="<name>"> gets one chart. Every chart has
 * its figures as a table under it, so nothing here is the only way to read them. */
(function () {
  "use strict";

  // Colour-blind-safe (Okabe–Ito) hues, each at least 3:1 against white.
  var PALETTE = ["#0b5cad", "#c2410c", "#047857", "#7e22ce", "#a16207", "#be185d"];
  var HEALTH_COLOURS = { delivered: "#047857", pending: "#a16207", failed: "#b91c1c" };

  function readData(name) {
    var element = document.getElementById("chart-" + name);
    return element ? JSON.parse(element.textContent) : null;
  }

  function coloured(datasets, colourOf) {
    return datasets.map(function (dataset, index) {
      var colour = colourOf(dataset, index);
      return Object.assign({}, dataset, { backgroundColor: colour, borderColor: colour });
    });
  }

  function byIndex(dataset, index) {
    return PALETTE[index % PALETTE.length];
  }

  // Every chart is a bar chart: what sets one apart is how its bars are coloured and its
  // own options.
  var CHARTS = {
    per_day: {
      colourOf: byIndex,
      options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } }, y: { stacked: true, beginAtZero: true } } },
    },
    funnel: {
      colourOf: byIndex,
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    },
    by_action: {
      colourOf: function () { return PALETTE[1]; },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    },
    campaigns: {
      colourOf: function (d, i) { return i ? "#8a929e" : PALETTE[2]; },
      options: { indexAxis: "y" },
    },
    report: {
      colourOf: byIndex,
      options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
    },
    health: {
      colourOf: function (d) { return HEALTH_COLOURS[d.key]; },
      options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } },
    },
  };

  function draw(canvas) {
    var name = canvas.getAttribute("data-chart");
    var data = readData(name);
    var chart = CHARTS[name];
    if (!data || !chart) {
      return;
    }
    var options = Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : undefined,
        locale: document.documentElement.lang || "en",
      },
      chart.options
    );
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: coloured(data.datasets, chart.colourOf) },
      options: options,
    });
  }

  function start() {
    if (!window.Chart) {
      return;
    }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#4f5661";
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
