"""The docs pages of the examples (docs/examples/<name>.md) are their READMEs, word for word,
under one line saying where the example lives (links into docs/ rewritten to work from
docs/examples/): a README edit that the docs page misses fails here. Regenerate the pages with ``python tests/examples/test_example_pages.py``."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("mars", "lfw", "traffic_signs", "csv_triplets")


def page_of(name: str) -> str:
    """The docs page of ``examples/<name>``: its README's title, the pointer line, the rest."""
    title, _, body = (REPO / "examples" / name / "README.md").read_text().partition("\n")
    pointer = (
        f"The example lives in `examples/{name}/` (its README, configs and commands are "
        "reproduced here)."
    )
    body = body.replace(
        "](../../docs/", "](../"
    )  # README links into docs/, seen from docs/examples
    return f"{title}\n\n{pointer}\n{body}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_docs_page_is_the_readme(name):
    page = REPO / "docs" / "examples" / f"{name}.md"
    assert page.read_text() == page_of(name), (
        f"{page} differs from examples/{name}/README.md: run "
        "`python tests/examples/test_example_pages.py`"
    )


def test_every_example_with_a_readme_has_a_page():
    with_readme = {p.parent.name for p in (REPO / "examples").glob("*/README.md")}
    assert with_readme == set(EXAMPLES)


if __name__ == "__main__":
    for example in EXAMPLES:
        (REPO / "docs" / "examples" / f"{example}.md").write_text(page_of(example))
