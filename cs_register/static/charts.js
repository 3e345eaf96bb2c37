// Draws the console's bar charts (the retention overview's and the statistics page's) from
// each canvas's data-chart attribute (JSON written by the server). No inline script: the
// console's Content-Security-Policy allows only our own files. Without Chart.js (not fetched,
// or blocked) the tables under each chart hold every figure.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  // A retention chart with several series stacks them in one bar, and names them in a legend.
  function retentionOptions(data) {
    var stacked = data.datasets.length > 1;
    return { stacked: stacked, plugins: { legend: { display: stacked } } };
  }
  // A suppressed statistics cell (under 5) arrives as null and is drawn as a gap, labelled "< 5".
  function statisticsOptions() {
    return {
      stacked: false,
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
    };
  }
  function draw(selector, optionsOf) {
    document.querySelectorAll(selector).forEach(function (canvas) {
      var data = JSON.parse(canvas.getAttribute("data-chart"));
      var options = optionsOf(data);
      new window.Chart(canvas, {
        type: "bar",
        data: data,
        options: {
          animation: false,
          responsive: true,
          scales: {
            x: { stacked: options.stacked },
            y: { stacked: options.stacked, beginAtZero: true, ticks: { precision: 0 } },
          },
          plugins: options.plugins,
        },
      });
      canvas.setAttribute("data-drawn", "true");
    });
  }
  draw("canvas.retention-chart", retentionOptions);
  draw("canvas.statistics-chart", statisticsOptions);
})();
