"""The README's quick start, run as the README writes it, at smoke size: its own make_csv command and its
own YAML, with only the sizes (rows, epochs, batch size) made small."""
from __future__ import annotations

import re
import shlex

import yaml

from ulmfit_core.cli import main
from ulmfit_core.fileio import read_json
from ulmfit_core.runconfig import RunConfig
from ulmfit_core.settings import REPO_ROOT
from ulmfit_core.harness import make_csv

README = (REPO_ROOT / "README.md").read_text()
SMOKE_SIZES = {"--train": "48", "--test": "24"}


def quick_start() -> tuple[list[str], dict, list[str]]:
    """The quick start's make_csv arguments, its YAML (the block that starts ``# news.yaml``) and the
    ``ulmfit`` commands it runs."""
    section = README[README.index("### Quick start"):README.index("### The config and the commands")]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    commands = [line for lang, body in blocks if lang == "bash" for line in body.splitlines() if line.strip()]
    yamls = [body for lang, body in blocks if lang == "yaml" and body.startswith("# news.yaml")]
    assert len(yamls) == 1, "the quick start has one YAML block, starting '# news.yaml'"
    make = [c for c in commands if "ulmfit_core.harness.make_csv" in c]
    assert len(make) == 1
    args = shlex.split(make[0])
    return args[args.index("ulmfit_core.harness.make_csv") + 1:], yaml.safe_load(yamls[0]), commands


def test_the_readme_yaml_loads_and_names_the_published_reduced_lm(tmp_path) -> None:
    _, config, commands = quick_start()
    assert ".venv/bin/ulmfit run -c news.yaml" in commands
    path = tmp_path / "news.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = RunConfig.load(path)
    assert cfg.pretrained == "reduced-forward" and cfg.directions == ("forward", "backward")
    assert (cfg.model.emb_size, cfg.model.hidden_size, cfg.model.n_layers) == (200, 400, 3)


def test_the_readme_quick_start_at_smoke_size(tmp_path, shared_data, monkeypatch, capsys) -> None:
    args, config, _ = quick_start()
    for flag, value in SMOKE_SIZES.items():
        args[args.index(flag) + 1] = value
    out = args.index("--out") + 1
    args[out] = str(tmp_path / args[out])
    assert make_csv.main(args) == 0
    train = (tmp_path / "news" / "train.csv").read_text().splitlines()
    assert train[0] == "text,label" and len(train) > 48
    for section in ("finetune_lm", "classifier"):
        config[section] = {**config[section], "epochs": 1, "batch_size": 8}
    (tmp_path / "news.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    assert main(["run", "-c", str(tmp_path / "news.yaml")]) == 0, capsys.readouterr().err
    evaluation = read_json(tmp_path / config["output"] / "evaluation.json")
    assert evaluation["n"] == 24 and evaluation["classes"] == ["Business", "Sci/Tech", "Sports", "World"]
    assert set(evaluation["models"]) == {"forward", "backward", "ensemble", "baseline (TF-IDF)"}
    assert all(sum(row) == 6 for row in evaluation["models"]["ensemble"]["confusion"])   # 6 per class
    assert "test error" in capsys.readouterr().out
