// Draws the retention overview's charts from each canvas's data-chart attribute (JSON written
// by the server). No inline script: the console's Content-Security-Policy allows only our own
// files. Without Chart.js (not fetched, or blocked) the tables under each chart hold every figure.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  document.querySelectorAll("canvas.retention-chart").forEach(function (canvas) {
    var data = JSON.parse(canvas.getAttribute("data-chart"));
    var stacked = data.datasets.length > 1;
    new window.Chart(canvas, {
      type: "bar",
      data: data,
      options: {
        animation: false,
        responsive: true,
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { display: stacked } },
      },
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
