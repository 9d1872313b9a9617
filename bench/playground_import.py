"""How many epochs the issue's classic playground URL needs in Axon, to choose an imported job's epochs.

It imports the URL as POST /v1/jobs/from-playground would (service.playground_url.parse), trains the
spec with mlp.fit for the import's default epochs, and prints every 20th epoch's loss and
validation accuracy, the first epoch at 100% validation accuracy, and the seconds it took.
A benchmark, not a test: it always exits 0.

    .venv/bin/python bench/playground_import.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mlp import NetworkSpec, fit  # noqa: E402
from mlp.playground_data import GeneratorSpec, generate  # noqa: E402
from service.playground_url import parse  # noqa: E402

CLASSIC = ("#activation=tanh&batchSize=10&dataset=circle&regDataset=reg-plane&learningRate=0.03"
           "&regularizationRate=0&noise=0&networkShape=4,2&seed=0.72826&showTestData=false&discretize=false"
           "&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=false&cosX=false&sinX=false"
           "&cosY=false&sinY=false&collectStats=false&problem=classification&initZero=false&hideText=false")


def main() -> None:
    experiment = parse(CLASSIC)
    data = generate(GeneratorSpec(**experiment.generator))
    records = []
    start = time.perf_counter()
    fit(NetworkSpec(**experiment.spec), data.features, data.targets,
        callback=lambda record, handle: records.append(record))
    seconds = time.perf_counter() - start
    for record in records[::20]:
        print(f"epoch {record['epoch']:4d}  loss {record['loss']:.3f}  val_accuracy {record['val_accuracy']:.3f}")
    perfect = next((record["epoch"] for record in records if record["val_accuracy"] == 1.0), None)
    print(f"{len(records)} epochs in {seconds:.2f} s; first epoch at 100% validation accuracy: {perfect}")


if __name__ == "__main__":
    main()
