// Draws the sales dashboard's charts from the figures the page already prints.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var funnel = document.getElementById("funnel-chart");
  if (funnel) {
    new Chart(funnel, {
      type: "bar",
      data: { labels: data.funnel.labels, datasets: [{ data: data.funnel.values, backgroundColor: ["#0dcaf0", "#ffc107", "#fd7e14", "#6f42c1"] }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, animation: false }
    });
  }
  var months = document.getElementById("months-chart");
  if (months) {
    var labels = { contracted: months.dataset.contracted || "Contracted", collected: months.dataset.collected || "Collected" };
    new Chart(months, {
      type: "bar",
      data: {
        labels: data.months.labels,
        datasets: [
          { label: labels.contracted, data: data.months.contracted, backgroundColor: "#6f42c1" },
          { label: labels.collected, data: data.months.collected, backgroundColor: "#198754" }
        ]
      },
      options: { animation: false, scales: { y: { ticks: { callback: function (v) { return (v / 10000).toLocaleString() + "万"; } } } } }
    });
  }
})();
