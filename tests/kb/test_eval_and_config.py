"""The benchmark questions, the shipped handbook as the default knowledge folder, and the config section."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.config import SAMPLE_HANDBOOK, KnowledgeFolder, load_config, parse_config
from bot.errors import ConfigError
from kb import index
from kb.eval import QUESTIONS, evaluate, load_questions
from kb.extract import front_matter
from kb.text import is_japanese

ROOT = Path(__file__).resolve().parents[2]


def test_questions_cover_what_the_benchmark_promises() -> None:
    qs = load_questions(QUESTIONS)
    langs = Counter(q.lang for q in qs)
    assert len(qs) >= 60 and abs(langs["ja"] - langs["en"]) <= 2
    assert sum(q.cross for q in qs) >= 10 and sum(not q.expected for q in qs) >= 10
    for q in qs:
        assert is_japanese(q.question) == (q.lang == "ja"), q.id
        for doc in q.expected:
            doc_ja = is_japanese(front_matter((Path(SAMPLE_HANDBOOK) / doc).read_text(encoding="utf-8"))[1])
            assert (doc_ja != (q.lang == "ja")) == q.cross, q.id
        if q.expected:
            assert q.fact, q.id


def test_handbook_is_bilingual_and_indexes_cleanly(tmp_path: Path) -> None:
    pages = sorted(Path(SAMPLE_HANDBOOK).glob("*.md"))
    ja = [p for p in pages if is_japanese(front_matter(p.read_text(encoding="utf-8"))[1])]
    assert len(pages) >= 30 and abs(2 * len(ja) - len(pages)) <= 2
    report = index(tmp_path / "s.db", [KnowledgeFolder(SAMPLE_HANDBOOK)])
    assert report.warnings == [] and report.added == len(pages)


def test_retrieval_quality_does_not_regress() -> None:
    groups = evaluate().groups
    assert groups["ja"]["recall"] >= 0.9 and groups["en"]["recall"] >= 0.9
    assert groups["unanswerable"]["nothing_relevant"] >= 0.6
    assert groups["all answerable"]["missed_relevant"] <= 0.1


def test_default_knowledge_is_the_sample_handbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config().knowledge.folders == (KnowledgeFolder(SAMPLE_HANDBOOK),)
    example = load_config(str(ROOT / "config.example.yaml"))
    assert [f.path for f in example.knowledge.folders] == ["kb/sample_handbook"]
    assert (ROOT / "kb/sample_handbook").resolve() == Path(SAMPLE_HANDBOOK)


def test_knowledge_section_is_read() -> None:
    cfg = parse_config({"knowledge": {"folders": ["a", {"path": "b", "channels": ["hr", 123]}, {"path": "c"}]}})
    assert cfg.knowledge.folders == (
        KnowledgeFolder("a"),
        KnowledgeFolder("b", ("hr", "123")),
        KnowledgeFolder("c"),
    )
    assert parse_config({"knowledge": {"folders": []}}).knowledge.folders == ()
    folder = KnowledgeFolder("b", ("#hr",))
    assert folder.visible_in("hr") and folder.visible_in("#hr") and not folder.visible_in("general")
    assert not folder.visible_in(None) and KnowledgeFolder("a").visible_in(None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"knowledge": [1]}, "key 'knowledge' must be a mapping"),
        ({"knowledge": {"folder": []}}, "did you mean 'knowledge.folders'"),
        ({"knowledge": {"folders": "docs"}}, "'knowledge.folders' must be a list"),
        ({"knowledge": {"folders": [{"channels": []}]}}, "'knowledge.folders[0].path' must be a folder path"),
        ({"knowledge": {"folders": [{"path": "a", "chanels": []}]}}, "did you mean 'knowledge.folders[0].channels'"),
        ({"knowledge": {"folders": [{"path": "a", "channels": {"x": 1}}]}}, "must be a list of channel names"),
        ({"knowlege": {}}, "did you mean 'knowledge'"),
    ],
)
def test_bad_knowledge_section_names_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "c.yaml")
    assert message in str(exc.value) and "\n" not in str(exc.value)
