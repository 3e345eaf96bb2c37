// Draws the statistics page's charts from each canvas's data-chart attribute (JSON written
// by the server). No inline script: the page's Content-Security-Policy allows only our own
// files. A suppressed cell (under 5) arrives as null and is drawn as a gap, labelled "< 5".
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return; // the tables below each chart still hold every figure
  }
  var canvases = document.querySelectorAll("canvas.statistics-chart");
  canvases.forEach(function (canvas) {
    var data = JSON.parse(canvas.getAttribute("data-chart"));
    new window.Chart(canvas, {
      type: "bar",
      data: data,
      options: {
        animation: false,
        responsive: true,
        scales: { x: { stacked: false }, y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                var value = item.raw === null ? "< 5" : item.raw;
                return item.dataset.label + ": " + value;
              },
            },
          },
        },
      },
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
