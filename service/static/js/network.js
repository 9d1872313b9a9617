// The network view, as the TensorFlow playground draws it: the inputs, each hidden layer and the
// output as columns of neurons, each a small heatmap of its output over the input plane, joined
// by links blue for positive weights and orange for negative ones, as thick as the weight is big.
// The grids come from one batched forward pass here, over the weights GET /v1/jobs/{id}/network
// answers (bench/network_view.py: 4 kB and ~9 ms, against ~1 MB of server-side grids).

const ORANGE = [245, 147, 34], BLUE = [8, 119, 189], WHITE = [255, 255, 255], GREY = [228, 231, 236];
const MOST_NEURONS = 16; // Per column; a wider layer says how many more it has.
const CELL = 40, OUTPUT_CELL = 72, GAP = 10, TOP = 22; // CSS pixels.

const ACTIVATIONS = {
  linear: (z) => z,
  relu: (z) => Math.max(z, 0),
  leaky_relu: (z) => (z > 0 ? z : 0.01 * z),
  elu: (z) => (z > 0 ? z : Math.expm1(z)),
  gelu: (z) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3))),
  tanh: Math.tanh,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  softplus: (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))),
};

// The playground's input features of a point (x1, x2), by Axon's names (mlp/playground_data.py FEATURES).
const FEATURES = {
  "x1": (x1, x2) => x1, "x2": (x1, x2) => x2, "x1^2": (x1, x2) => x1 * x1, "x2^2": (x1, x2) => x2 * x2,
  "x1*x2": (x1, x2) => x1 * x2, "sin(x1)": (x1, x2) => Math.sin(x1), "sin(x2)": (x1, x2) => Math.sin(x2),
};

function mix(from, to, share) {
  return from.map((channel, index) => Math.round(channel + (to[index] - channel) * share));
}

/** Orange below zero, white at zero, blue above, for a value in [-1, 1]. */
export function diverging(value) {
  const share = Math.max(-1, Math.min(1, value));
  return share < 0 ? mix(WHITE, ORANGE, -share) : mix(WHITE, BLUE, share);
}

/**
 * Every column's values over the plane: columns[0] the inputs, then each layer's outputs.
 * Each column is an array of Float64Array(n_points), point p = row * x.length + column.
 */
export function forwardPass(network) {
  const {x, y} = network.plane;
  const n = x.length * y.length;
  const inputs = network.inputs.map(() => new Float64Array(n));
  const known = network.inputs.every((name) => name in FEATURES);
  for (let row = 0; row < y.length; row += 1) {
    for (let column = 0; column < x.length; column += 1) {
      const point = row * x.length + column;
      network.inputs.forEach((name, index) => {
        inputs[index][point] = known ? FEATURES[name](x[column], y[row]) : (index === 0 ? x[column] : y[row]);
      });
    }
  }
  const columns = [inputs];
  let below = inputs.map((values, index) => values.map((value) => (value - network.mean[index]) / network.std[index]));
  network.layers.forEach((layer, index) => {
    const last = index === network.layers.length - 1;
    const outputs = layer.biases.map((bias, unit) => {
      const values = new Float64Array(n).fill(bias);
      below.forEach((source, from) => {
        const weight = layer.weights[from][unit];
        for (let point = 0; point < n; point += 1) values[point] += source[point] * weight;
      });
      return values;
    });
    if (!last) outputs.forEach((values) => values.forEach((z, point) => { values[point] = ACTIVATIONS[layer.activation](z); }));
    else applyLink(network, layer.activation, outputs);
    columns.push(outputs);
    below = outputs;
  });
  return columns;
}

function applyLink(network, link, outputs) {
  if (link === "sigmoid") outputs.forEach((values) => values.forEach((z, p) => { values[p] = ACTIVATIONS.sigmoid(z); }));
  if (link === "softmax") {
    for (let p = 0; p < outputs[0].length; p += 1) {
      const top = Math.max(...outputs.map((values) => values[p]));
      const total = outputs.reduce((sum, values) => sum + Math.exp(values[p] - top), 0);
      outputs.forEach((values) => { values[p] = Math.exp(values[p] - top) / total; });
    }
  }
  if (link === "linear" && network.target_std) {
    outputs.forEach((values, k) => values.forEach((z, p) => { values[p] = z * network.target_std[k] + network.target_mean[k]; }));
  }
}

/** A function from a neuron's value to [-1, 1] for colouring it. */
function scaleOf(values, column, network, columns) {
  const last = column === columns.length - 1;
  if (last && network.task === "classification") return (value) => 2 * value - 1; // Probability: 0.5 is white.
  let low = Infinity, high = -Infinity;
  for (const value of values) { low = Math.min(low, value); high = Math.max(high, value); }
  if (last) { // Regression: the continuous scale over the output's own range, low orange, high blue.
    const middle = (low + high) / 2, half = (high - low) / 2 || 1;
    return (value) => (value - middle) / half;
  }
  const reach = Math.max(Math.abs(low), Math.abs(high), 1e-9);
  // Bounded activations keep the playground's fixed scale; unbounded ones scale to their reach.
  return (value) => value / Math.max(reach, reach <= 1 ? 1 : reach);
}

function heatmap(values, width, height, scale, discretise) {
  const cells = new ImageData(width, height);
  for (let row = 0; row < height; row += 1) {
    for (let column = 0; column < width; column += 1) {
      let share = scale(values[row * width + column]);
      if (discretise) share = share >= 0 ? 1 : -1;
      // Row 0 is the lowest y, which is the tile's bottom row.
      cells.data.set([...diverging(share), 255], ((height - 1 - row) * width + column) * 4);
    }
  }
  const tile = new OffscreenCanvas(width, height);
  tile.getContext("2d").putImageData(cells, 0, 0);
  return tile;
}

function columnLabel(network, column) {
  if (column === 0) return "inputs";
  if (column === network.layers.length) return "output";
  return `${network.layers[column - 1].biases.length} ${network.layers[column - 1].activation}`;
}

function neuronName(network, column, index) {
  if (column === 0) return network.inputs[index];
  if (column === network.layers.length) return network.classes ? `output ${index + 1}` : "output";
  return `layer ${column} neuron ${index + 1}`;
}

/** Where each neuron sits: boxes[column][index] = {x, y, size}, in CSS pixels, and the height needed. */
function layout(network, width) {
  const sizes = [network.inputs.length, ...network.layers.map((layer) => layer.biases.length)];
  const columns = sizes.length;
  const left = 8, right = width - OUTPUT_CELL - 8;
  const tallest = Math.max(...sizes.map((size) => Math.min(size, MOST_NEURONS)));
  const height = TOP + Math.max(tallest * (CELL + GAP), OUTPUT_CELL) + 24;
  const boxes = sizes.map((size, column) => {
    const last = column === columns - 1;
    const cell = last ? OUTPUT_CELL : CELL;
    const shown = Math.min(size, MOST_NEURONS);
    // The inputs on the left, the output on the right, the hidden columns evenly between them.
    const x = last ? right : left + ((right - CELL - left) * column) / Math.max(columns - 1, 1);
    const span = shown * cell + (shown - 1) * GAP;
    const top = TOP + (height - TOP - 24 - span) / 2;
    return Array.from({length: shown}, (_, index) => ({x, y: top + index * (cell + GAP), size: cell}));
  });
  return {boxes, height, sizes};
}

/**
 * Draw a GET /v1/jobs/{id}/network answer on `canvas`; `options.discretise` paints signs only.
 * Returns what hover needs: the neurons' boxes and the links, with their values.
 */
export function drawNetwork(canvas, network, options = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.parentElement.clientWidth || 640;
  const {boxes, height, sizes} = layout(network, width);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const columns = network.plane ? forwardPass(network) : null;
  const links = [];
  const biggest = Math.max(1e-9, ...network.layers.flatMap((layer) => layer.weights.flat().map(Math.abs)));
  network.layers.forEach((layer, index) => {
    boxes[index].forEach((from, i) => boxes[index + 1].forEach((to, k) => {
      const weight = layer.weights[i][k];
      const link = {x1: from.x + from.size, y1: from.y + from.size / 2, x2: to.x, y2: to.y + to.size / 2, weight,
                    name: `${neuronName(network, index, i)} → ${neuronName(network, index + 1, k)}`};
      context.strokeStyle = `rgba(${(weight >= 0 ? BLUE : ORANGE).join(",")}, 0.75)`;
      context.lineWidth = 0.5 + 5 * Math.abs(weight) / biggest;
      context.beginPath();
      context.moveTo(link.x1, link.y1);
      context.lineTo(link.x2, link.y2);
      context.stroke();
      links.push(link);
    }));
  });
  const neurons = [];
  let heatmaps = 0;
  boxes.forEach((column, c) => column.forEach((box, index) => {
    const neuron = {...box, name: neuronName(network, c, index),
                    bias: c === 0 ? null : network.layers[c - 1].biases[index]};
    if (columns) {
      const values = columns[c][index];
      const scale = scaleOf(values, c, network, columns);
      const discretise = options.discretise && c === columns.length - 1;
      context.imageSmoothingEnabled = true;
      context.drawImage(heatmap(values, network.plane.x.length, network.plane.y.length, scale, discretise),
                        box.x, box.y, box.size, box.size);
      neuron.low = values.reduce((least, value) => Math.min(least, value), Infinity);
      neuron.high = values.reduce((most, value) => Math.max(most, value), -Infinity);
      heatmaps += 1;
    } else {
      context.fillStyle = `rgb(${GREY.join(",")})`;
      context.fillRect(box.x, box.y, box.size, box.size);
    }
    context.strokeStyle = "#9aa3b2";
    context.lineWidth = 1;
    context.strokeRect(box.x + 0.5, box.y + 0.5, box.size - 1, box.size - 1);
    neurons.push(neuron);
  }));
  context.fillStyle = "#5b6270";
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "center";
  context.textBaseline = "top";
  boxes.forEach((column, c) => {
    const first = column[0];
    if (!first) return;
    context.fillText(columnLabel(network, c), first.x + first.size / 2, 4);
    if (sizes[c] > column.length) {
      const last = column.at(-1);
      context.fillText(`+${sizes[c] - column.length} more`, last.x + last.size / 2, last.y + last.size + 3);
    }
  });
  context.textAlign = "left";
  boxes[0].forEach((box, index) => context.fillText(network.inputs[index], box.x + 2, box.y + box.size + 1));
  // The picture in words, for a screen reader.
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Network ${sizes.join("-")}: inputs ${network.inputs.join(", ")}; ` +
    (columns ? "each neuron drawn as a heatmap over the input plane" : "weights only") +
    `; links blue for positive weights, orange for negative, thicker for larger`);
  canvas.dataset.neurons = neurons.length;
  canvas.dataset.heatmaps = heatmaps;
  canvas.dataset.epoch = network.epoch ?? "";
  canvas.dataset.source = network.source ?? "";
  canvas.dataset.boxes = JSON.stringify(neurons.map(({x, y, size}) => [x, y, size]));
  return {neurons, links};
}

function distanceToSegment(px, py, link) {
  const dx = link.x2 - link.x1, dy = link.y2 - link.y1;
  const t = Math.max(0, Math.min(1, ((px - link.x1) * dx + (py - link.y1) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(px - (link.x1 + t * dx), py - (link.y1 + t * dy));
}

/** What the pointer at (x, y) is over: a neuron's or a link's description, or null. */
export function hoverText(drawn, x, y) {
  const format = (value) => Number(value.toPrecision(3)).toString();
  const neuron = drawn.neurons.find((box) => x >= box.x && x <= box.x + box.size && y >= box.y && y <= box.y + box.size);
  if (neuron) {
    const parts = [neuron.name];
    if (neuron.bias !== null) parts.push(`bias ${format(neuron.bias)}`);
    if (neuron.low !== undefined) parts.push(`output ${format(neuron.low)} to ${format(neuron.high)} over the plane`);
    return parts.join(" · ");
  }
  let nearest = null, distance = 4; // Within 4 CSS pixels of a link.
  for (const link of drawn.links) {
    const away = distanceToSegment(x, y, link);
    if (away < distance) { nearest = link; distance = away; }
  }
  return nearest ? `weight ${nearest.name}: ${format(nearest.weight)}` : null;
}
