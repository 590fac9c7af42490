// Draws the sales dashboard's charts from the figures the page already prints.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);

  // Each bar carries its number (the tables beside the charts carry them too):
  // at the end of a horizontal bar, above a vertical one.
  var valueLabels = {
    id: "valueLabels",
    afterDatasetsDraw: function (chart, args, options) {
      var ctx = chart.ctx;
      var horizontal = chart.options.indexAxis === "y";
      ctx.save();
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillStyle = "#212529";
      chart.data.datasets.forEach(function (dataset, i) {
        chart.getDatasetMeta(i).data.forEach(function (bar, j) {
          var text = options.format ? options.format(dataset.data[j]) : String(dataset.data[j]);
          if (horizontal) {
            ctx.textAlign = "left";
            ctx.textBaseline = "middle";
            ctx.fillText(text, bar.x + 4, bar.y);
          } else {
            ctx.textAlign = "center";
            ctx.textBaseline = "bottom";
            ctx.fillText(text, bar.x, bar.y - 2);
          }
        });
      });
      ctx.restore();
    }
  };

  var funnel = document.getElementById("funnel-chart");
  if (funnel) {
    new Chart(funnel, {
      type: "bar",
      data: { labels: data.funnel.labels, datasets: [{ data: data.funnel.values, backgroundColor: ["#0dcaf0", "#ffc107", "#fd7e14", "#6f42c1"] }] },
      plugins: [valueLabels],
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        // Room on the right for the number at the end of the longest bar.
        layout: { padding: { right: 48 } },
        plugins: { legend: { display: false }, valueLabels: { format: function (v) { return v.toLocaleString(); } } }
      }
    });
  }
  var months = document.getElementById("months-chart");
  if (months) {
    var labels = { contracted: months.dataset.contracted || "Contracted", collected: months.dataset.collected || "Collected" };
    // Compact money in the page's language: 700万 in Chinese, 7M in English.
    var compact = new Intl.NumberFormat(document.documentElement.lang || undefined, { notation: "compact", maximumFractionDigits: 1 });
    var wan = function (v) { return compact.format(v); };
    new Chart(months, {
      type: "bar",
      data: {
        labels: data.months.labels,
        datasets: [
          { label: labels.contracted, data: data.months.contracted, backgroundColor: "#6f42c1" },
          { label: labels.collected, data: data.months.collected, backgroundColor: "#198754" }
        ]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { ticks: { callback: wan } } },
        // The exact figures are in the table under the chart; the tooltip says them too.
        plugins: { tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": ¥" + item.raw.toLocaleString(); } } } }
      }
    });
  }
})();
