// One dataset: its size, task and classes, and for an upload every column's kind as the server read it.

import {request, showProblem} from "./api.js";
import {age, renderFacts, schemaView} from "./format.js";

const datasetId = document.getElementById("dataset-head").dataset.datasetId;

try {
  const dataset = await request(`/v1/datasets/${datasetId}`);
  renderFacts(document.getElementById("dataset-facts"), [
    ["Name", dataset.name],
    ["Task", dataset.task_reason ? `${dataset.task}: ${dataset.task_reason}` : dataset.task],
    ["Rows", dataset.n_samples],
    ["Features", dataset.n_features],
    ...(dataset.classes ? [["Classes", dataset.classes.join(", ")]] : []),
    ["Created", age(dataset.created_at)],
  ]);
  const schema = schemaView(dataset);
  document.getElementById("dataset-schema").replaceChildren(...schema);
  document.getElementById("schema-section").hidden = schema.length === 0;
} catch (error) {
  showProblem(document.getElementById("problem"), error, "Could not load the dataset");
}
