// The decision-boundary heatmap on a plain <canvas>: the network's prediction over a grid of the
// data's two features, with training points on top. Colours follow the TensorFlow playground:
// orange for the first class (and low values), blue for the second (and high values).

const CLASS_COLOURS = [[245, 147, 34], [8, 119, 189], [46, 160, 67], [214, 39, 40], [148, 103, 189],
                       [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
const WHITE = [255, 255, 255];
const PADDING = {left: 44, bottom: 22, top: 6, right: 6}; // Room for the axis labels, in CSS pixels.

function mix(from, to, share) {
  return from.map((channel, index) => Math.round(channel + (to[index] - channel) * share));
}

function classColour(index) {
  return CLASS_COLOURS[index % CLASS_COLOURS.length];
}

/** A function from a cell (or point) to its RGB colour, for the boundary's task and classes. */
function painter(boundary, discretise = false) {
  if (boundary.task === "regression") {
    const values = [...boundary.targets, ...(boundary.predicted || []).flat()];
    // A loop, not Math.min(...values): a 200x200 grid is too many arguments for one call.
    const low = values.reduce((least, value) => Math.min(least, value), Infinity);
    const high = values.reduce((most, value) => Math.max(most, value), -Infinity);
    const span = high - low || 1;
    // Diverging: orange at the lowest value, white in the middle, blue at the highest.
    return (value) => {
      let share = (value - low) / span;
      if (discretise) share = share < 0.5 ? 0 : 1; // As the playground's discretize: which side only.
      return share < 0.5 ? mix(CLASS_COLOURS[0], WHITE, share * 2) : mix(WHITE, CLASS_COLOURS[1], share * 2 - 1);
    };
  }
  const nClasses = boundary.classes.length;
  // A cell fades to white as the network grows unsure: at chance (1 / n_classes) it is white.
  return (index, confidence = 1) => {
    if (discretise) confidence = 1; // The predicted class alone, at full colour.
    const sureness = Math.max(0, (confidence - 1 / nClasses) / (1 - 1 / nClasses));
    return mix(WHITE, classColour(index), 0.15 + 0.6 * sureness);
  };
}

function drawGrid(context, boundary, paint, box) {
  const size = boundary.x.length;
  const cells = new ImageData(size, size);
  for (let row = 0; row < size; row += 1) {
    for (let column = 0; column < size; column += 1) {
      const colour = paint(boundary.predicted[row][column], boundary.confidence?.[row][column]);
      // Row 0 of the answer is the lowest y, which is the canvas's bottom row.
      const offset = ((size - 1 - row) * size + column) * 4;
      cells.data.set([...colour, 255], offset);
    }
  }
  const tile = new OffscreenCanvas(size, size);
  tile.getContext("2d").putImageData(cells, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(tile, box.left, box.top, box.width, box.height);
}

function drawPoints(context, boundary, paint, box, showTest) {
  const [xLow, xHigh] = [boundary.x[0], boundary.x.at(-1)];
  const [yLow, yHigh] = [boundary.y[0], boundary.y.at(-1)];
  context.lineWidth = 1;
  // A value's point has its own colour on a field of nearby colours: only a dark ring shows it.
  const ring = boundary.task === "regression" ? "rgba(29, 35, 48, 0.7)" : "rgba(255, 255, 255, 0.9)";
  context.strokeStyle = ring;
  boundary.points.forEach(([x, y], index) => {
    const test = boundary.validation?.[index];
    if (test && !showTest) return; // The playground shows its test points only when asked.
    const target = boundary.targets[index];
    const colour = boundary.task === "regression" ? paint(target) : classColour(target);
    context.fillStyle = `rgb(${colour.join(",")})`;
    // Test points carry a dark ring, as in the playground.
    context.strokeStyle = test ? "rgba(29, 35, 48, 0.95)" : ring;
    context.lineWidth = test ? 1.5 : 1;
    context.beginPath();
    context.arc(box.left + ((x - xLow) / (xHigh - xLow)) * box.width,
                box.top + (1 - (y - yLow) / (yHigh - yLow)) * box.height, 3.5, 0, 2 * Math.PI);
    context.fill();
    context.stroke();
  });
}

function drawAxes(context, boundary, box) {
  const [xName, yName] = boundary.feature_names || ["feature 1", "feature 2"];
  const label = (value) => Number(value.toPrecision(3)).toString();
  context.strokeStyle = "#c9ced6";
  context.strokeRect(box.left, box.top, box.width, box.height);
  context.fillStyle = "#5b6270";
  context.font = "11px system-ui, sans-serif";
  context.textBaseline = "top";
  context.textAlign = "left";
  context.fillText(label(boundary.x[0]), box.left, box.top + box.height + 4);
  context.textAlign = "right";
  context.fillText(label(boundary.x.at(-1)), box.left + box.width, box.top + box.height + 4);
  context.textAlign = "center";
  context.fillText(xName, box.left + box.width / 2, box.top + box.height + 4);
  context.save();
  context.translate(box.left - 8, box.top + box.height / 2);
  context.rotate(-Math.PI / 2);
  context.textBaseline = "bottom";
  context.fillText(yName, 0, 0);
  context.restore();
  context.textAlign = "right";
  context.textBaseline = "bottom";
  context.fillText(label(boundary.y.at(-1)), box.left - 4, box.top + 10);
  context.textBaseline = "bottom";
  context.fillText(label(boundary.y[0]), box.left - 4, box.top + box.height);
}

/** Draw a /v1/jobs/{id}/boundary answer on `canvas` (points only while it has no predictions). */
export function drawBoundary(canvas, boundary, options = {}) {
  const ratio = window.devicePixelRatio || 1;
  const cssSize = canvas.clientWidth || 360;
  canvas.width = canvas.height = Math.round(cssSize * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, cssSize, cssSize);
  const box = {left: PADDING.left, top: PADDING.top, width: cssSize - PADDING.left - PADDING.right,
               height: cssSize - PADDING.top - PADDING.bottom};
  const paint = painter(boundary, options.discretise);
  if (boundary.predicted) drawGrid(context, boundary, paint, box);
  else {
    context.fillStyle = "#f4f5f7";
    context.fillRect(box.left, box.top, box.width, box.height);
  }
  drawPoints(context, boundary, painter(boundary), box, options.showTest);
  drawAxes(context, boundary, box);
  canvas.dataset.epoch = boundary.epoch ?? "";
  canvas.dataset.source = boundary.source ?? "";
  canvas.dataset.points = boundary.points.filter((_, index) => options.showTest || !boundary.validation?.[index]).length;
}

/** Swatches naming each class (or the value range) in `legend`. */
export function drawLegend(legend, boundary, el) {
  if (boundary.task === "regression") {
    // The painter's own range: the points' targets and the predictions (either may be missing).
    const values = [...boundary.targets, ...(boundary.predicted || []).flat()];
    if (!values.length) return legend.replaceChildren();
    const low = values.reduce((least, value) => Math.min(least, value), Infinity);
    const high = values.reduce((most, value) => Math.max(most, value), -Infinity);
    legend.replaceChildren(el("span", {class: "swatch", style: "background: rgb(245,147,34)"}), ` low (${low.toPrecision(3)})  `,
                           el("span", {class: "swatch", style: "background: rgb(8,119,189)"}), ` high (${high.toPrecision(3)})`);
    return;
  }
  legend.replaceChildren(...boundary.classes.flatMap((label, index) => [
    el("span", {class: "swatch", style: `background: rgb(${classColour(index).join(",")})`}), ` ${label} `]));
}
