// The Analytics page's charts: each `.chart[data-series]` is drawn with uPlot from the JSON
// in that attribute (data, never executed: the page runs no inline script). Colours come
// from the stylesheet's variables, so a chart follows light and dark mode; charts fit their
// box when the window resizes, and the ones htmx swaps in are drawn when they arrive.
(function () {
  "use strict";

  var HEIGHT = 220;
  var drawn = [];

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function palette() {
    return {
      text: colour("--text", "#1d2125"),
      muted: colour("--muted", "#545b63"),
      grid: colour("--border", "#d9dcdf"),
      series: [colour("--chart-1", "#1f5f8b"), colour("--chart-2", "#b0480a"), colour("--muted", "#545b63")],
    };
  }

  function axis(colours, values) {
    var found = {
      stroke: colours.muted,
      grid: { stroke: colours.grid, width: 1 },
      ticks: { stroke: colours.grid, width: 1 },
    };
    if (values) {
      found.values = values;
    }
    return found;
  }

  function options(data, width, colours) {
    var bars = data.kind === "bars";
    var labels = data.labels || [];
    var series = [{}];
    data.series.forEach(function (item, index) {
      var stroke = colours.series[index % colours.series.length];
      var one = { label: item.label, stroke: stroke, width: 2, points: { show: false } };
      if (item.dashed) {
        one.dash = [6, 4];
        one.width = 1.5;
      }
      if (bars) {
        one.fill = stroke;
        one.paths = uPlot.paths.bars({ size: [0.7, 60] });
      }
      series.push(one);
    });
    var xValues = bars
      ? function (u, splits) {
          return splits.map(function (split) {
            return labels[split] === undefined ? "" : labels[split];
          });
        }
      : null;
    return {
      width: width,
      height: HEIGHT,
      series: series,
      legend: { show: data.series.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: bars
        ? { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] }, y: { range: [0, null] } }
        : { x: { time: true }, y: { range: [0, null] } },
      axes: [
        axis(colours, xValues),
        axis(colours, function (u, splits) {
          return splits.map(function (split) {
            return Number.isInteger(split) ? split.toLocaleString() : "";
          });
        }),
      ],
      // Days are drawn in UTC: the table beside the chart names the same days.
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
      },
    };
  }

  function draw(box) {
    if (typeof uPlot === "undefined" || box.getAttribute("data-drawn")) {
      return;
    }
    var data = JSON.parse(box.getAttribute("data-series"));
    var rows = [data.x].concat(
      data.series.map(function (item) {
        return item.values;
      })
    );
    box.textContent = "";
    var plot = new uPlot(options(data, box.clientWidth || 300, palette()), rows, box);
    box.setAttribute("data-drawn", "true");
    drawn.push({ box: box, plot: plot });
  }

  function drawIn(root) {
    var boxes = root.querySelectorAll(".chart[data-series]");
    for (var i = 0; i < boxes.length; i++) {
      draw(boxes[i]);
    }
  }

  function forget() {
    drawn = drawn.filter(function (item) {
      if (item.box.isConnected) {
        return true;
      }
      item.plot.destroy();
      return false;
    });
  }

  function redrawAll() {
    var boxes = drawn.map(function (item) {
      item.plot.destroy();
      item.box.removeAttribute("data-drawn");
      return item.box;
    });
    drawn = [];
    boxes.forEach(draw);
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    if (resizing) {
      window.cancelAnimationFrame(resizing);
    }
    resizing = window.requestAnimationFrame(function () {
      forget();
      drawn.forEach(function (item) {
        item.plot.setSize({ width: item.box.clientWidth || 300, height: HEIGHT });
      });
    });
  });

  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  if (dark.addEventListener) {
    dark.addEventListener("change", redrawAll);
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    forget();
    drawIn(event.target);
  });

  // Editing a date chooses the dates given over a preset range.
  var range = document.getElementById("range");
  ["from", "to"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input && range) {
      input.addEventListener("change", function () {
        range.value = "custom";
      });
    }
  });

  drawIn(document);
})();
