"""The tree's shape: no import cycle inside audiollm/, no import from a lower room to a higher one, and every config under configs/ loads and validates (its
``extends:`` chain, the model it names, its DeepSpeed JSON by DeepSpeed's own config class)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from audiollm import AudioLLMConfig
from audiollm.config import ConfigError, load_yaml
from audiollm.training.config import DEEPSPEED_DIR, TrainConfig, load_train_config

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "audiollm"
CONFIGS = ROOT / "configs"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each audiollm module -> the audiollm modules it imports anywhere in its body (lazy imports included: a
    function-level import still runs, and a cycle through it still couples the two files)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
                submodules = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
                # ``from pkg import submodule`` reads the submodule, not what pkg/__init__ defines.
                targets.update(submodules if len(submodules) == len(node.names) else {source, *submodules})
        graph[name] = {t for target in targets for t in with_parents(target, name) if t in modules and t != name}
    return graph


def with_parents(target: str, importer: str) -> list[str]:
    """``target`` and the packages above it that Python initialises first (those not already above ``importer``)."""
    parts = target.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
            if not (importer == p or importer.startswith(p + "."))]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the list of modules around it (first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            if cycle := visit(target, [*trail, node]):
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start, []):
            return cycle
    return None


def test_no_import_cycle_in_the_library():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# The rooms of ARCHITECTURE.md from the bottom up, each module (or package, for everything under it) in one; the
# longest name that matches places a module. A module imports only from its own room and the rooms below it.
ROOMS: list[tuple[str, set[str]]] = [
    ("foundations", {"config", "audio", "cache", "ports", "quiet", "placement"}),
    ("weights", {"weights"}),
    ("model parts", {"encoder", "projector", "llm", "processor", "conversation", "generation", "alignment",
                     "stopping", "transcribe", "vad", "speech", "sizing", "tagger", "lean_decoder", "lean_whisper",
                     "cpu_products"}),
    ("data", {"data"}),
    ("model", {"model", ""}),  # "": the package's face, audiollm/__init__.py, exports the model
    ("front ends", {"training", "server", "demo", "eval", "data.starter", "data.importers"}),
    ("command line", {"cli", "commands"}),
]


def room_of(module: str) -> int:
    name = module.removeprefix("audiollm").removeprefix(".")
    parts = name.split(".") if name else []
    # Down to one part only: "" stands for the package's face alone, not for every module below it.
    for end in range(len(parts), 0 if parts else -1, -1):
        prefix = ".".join(parts[:end])
        for rank, (_, members) in enumerate(ROOMS):
            if prefix in members:
                return rank
    raise AssertionError(f"{module} is in no room: add it to ROOMS here and to ARCHITECTURE.md")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{source} ({ROOMS[room_of(source)][0]}) imports {target} ({ROOMS[room_of(target)][0]})"
                  for source, targets in graph.items() for target in targets if room_of(target) > room_of(source))


def test_no_import_points_from_a_lower_room_to_a_higher_one():
    assert upward_imports(import_graph()) == []


def test_an_upward_import_is_caught():
    graph = {"audiollm.data.dataset": {"audiollm.model"}, "audiollm.model": {"audiollm.processor"},
             "audiollm.processor": set()}
    assert upward_imports(graph) == ["audiollm.data.dataset (data) imports audiollm.model (model)"]


# --- configs -----------------------------------------------------------------------------------------------------

TRAIN_CONFIGS = sorted((CONFIGS / "train").rglob("*.yaml"))
RELEASED_RECIPE = sorted((CONFIGS / "train" / "default").glob("stage*.yaml"), key=lambda p: int(p.stem[5:]))


def test_every_yaml_under_configs_is_a_model_or_training_config():
    models = sorted((CONFIGS / "models").glob("*.yaml"))
    assert sorted(CONFIGS.rglob("*.yaml")) == sorted([*models, *TRAIN_CONFIGS])
    assert len(models) >= 2 and len(TRAIN_CONFIGS) >= 19 and len(RELEASED_RECIPE) == 17


@pytest.mark.parametrize("path", sorted((CONFIGS / "models").glob("*.yaml")), ids=lambda p: p.name)
def test_model_config_loads(path: Path):
    AudioLLMConfig.from_yaml(path)


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS / "train")))
def test_training_config_loads_and_validates(path: Path):
    # tiny.yaml leaves data.train to the tests; the rest name the starter corpus.
    overrides = [] if load_yaml(TrainConfig, path).data.train else ["data.train=[given.jsonl]"]
    cfg = load_train_config(path, overrides)
    if cfg.model.endswith(".yaml"):
        AudioLLMConfig.from_yaml(cfg.model, cfg.model_config_overrides())
    if cfg.deepspeed is not None:
        from audiollm.training.deepspeed_backend import deepspeed_config

        config_class = pytest.importorskip("deepspeed.runtime.config").DeepSpeedConfig
        config_class(deepspeed_config(cfg, on_gpu=True))


@pytest.mark.parametrize("path", sorted(DEEPSPEED_DIR.glob("*.json")), ids=lambda p: p.name)
def test_deepspeed_config_is_valid_for_deepspeed(path: Path):
    from audiollm.training.deepspeed_backend import deepspeed_config

    config_class = pytest.importorskip("deepspeed.runtime.config").DeepSpeedConfig
    cfg = load_train_config(CONFIGS / "train" / "projector.yaml", [f"deepspeed={path}"])
    parsed = config_class(deepspeed_config(cfg, on_gpu=True))
    assert parsed.zero_optimization_stage == json.loads(path.read_text())["zero_optimization"]["stage"]
    assert parsed.train_micro_batch_size_per_gpu == cfg.micro_batch_size


def test_released_recipe_is_a_chain_of_stages():
    """Each stage of the released model's recipe starts from the stage before it and writes its own directory."""
    stages = [load_yaml(TrainConfig, path) for path in RELEASED_RECIPE]  # paths as written, not yet looked up
    assert stages[0].model == "configs/models/base.yaml" and stages[0].mode == "align"
    for before, after in zip(stages, stages[1:]):
        assert after.model == before.output_dir and after.mode == "projector_lora"
    assert len({s.output_dir for s in stages}) == len(stages)
    assert stages[11].data.task_weights["sound_class"] == 25 and stages[11].data.task_weights["mcq"] == 0.3
    # Stage 13 hears with Whisper's transcript, a mix of every encoder layer and the sound tagger's labels (which
    # know speech), and replays the LLM's own text answers.
    last = stages[12]
    assert {"encoder.transcript=whisper", "encoder.layers=all", "encoder.tags=5"} <= set(last.model_overrides)
    assert last.data.transcript_source == "reference" and last.data.tag_dropout > 0 and last.data.tag_speech_clips > 0
    assert any(p.endswith("text.jsonl") for p in last.data.train) and last.data.task_weights["text"] > 0
    # Stages 14 and 15 name the labels a question asks about, play another labelled clip under most sound rows'
    # answers, and then draw the real recordings' questions more often than the synthetic voices'.
    swap, real = stages[13], stages[14]
    assert "encoder.named_tags=true" in swap.model_overrides and swap.data.audio_swap >= 0.5
    assert real.data.audio_swap == swap.data.audio_swap and real.model_overrides == []
    assert real.data.family_weights["real sounds"] > 1 > real.data.family_weights["synthetic voices"]
    # Stage 16 reads the tags' percentages to a decimal, every sound row under another clip's audio.
    finer = stages[15]
    assert finer.model_overrides == ["encoder.tag_decimals=1"] and finer.data.audio_swap == 1.0
    # Stage 17 draws four-option questions as often as yes/no, twice the sound questions, and averages two seeds.
    soup = stages[16]
    assert soup.soup_seeds == [0, 1] and soup.data.task_weights["mcq"] == soup.data.task_weights["yesno"] == 2
    assert soup.data.task_weights["sound_event"] == 1 and soup.data.audio_swap == 1.0


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base.yaml").write_text(
        "mode: projector\ndata: {train: [a.jsonl, b.jsonl], task_weights: {asr: 2, caption: 3}}\n"
        "optimizer: {lr: 1.0e-3, warmup_steps: 100}\n")
    (tmp_path / "run.yaml").write_text(
        "extends: recipes/base.yaml\ndata: {train: [c.jsonl], task_weights: {asr: 0.5}}\noptimizer: {lr: 2.0e-4}\n")
    cfg = load_train_config(tmp_path / "run.yaml", ["optimizer.warmup_steps=7"])
    assert cfg.mode == "projector" and cfg.data.train == ["c.jsonl"]
    assert cfg.data.task_weights == {"asr": 0.5, "caption": 3.0}
    assert (cfg.optimizer.lr, cfg.optimizer.warmup_steps) == (2.0e-4, 7)


def test_extends_errors_name_the_files(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nmax_steps: 3\n")
    with pytest.raises(ConfigError, match=r"extends loops: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_yaml(TrainConfig, tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found \(extended by .*c\.yaml\)"):
        load_yaml(TrainConfig, tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("max_steps: 3\n")
    (tmp_path / "d.yaml").write_text("extends: e.yaml\nstage: align\n")
    with pytest.raises(ConfigError, match=r"d\.yaml: TrainConfig: unknown key\(s\) stage; known: .*mode"):
        load_yaml(TrainConfig, tmp_path / "d.yaml")
