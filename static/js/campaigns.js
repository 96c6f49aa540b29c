// The campaign page's "leads per day" chart. Data comes from json_script (no inline
// script: the Content-Security-Policy allows only same-origin files).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("leads-per-day-data");
  const canvas = document.getElementById("leads-per-day");
  if (!source || !canvas || typeof Chart === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{ label: data.label, data: data.values, backgroundColor: "#2b6cb0" }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    },
  });
});
