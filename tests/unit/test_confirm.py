"""Destructive commands (reset, nodes down) go on only with --yes or the lab's name typed."""

import pytest

from kubelab.confirm import NotConfirmed, confirm


def never_asked(prompt):
    raise AssertionError(f"asked {prompt!r}")


def test_yes_goes_on_without_asking():
    confirm("lab1", "reset lab lab1", "reset it", yes=True, interactive=False, ask=never_asked)


def test_no_terminal_and_no_yes_refuses_and_says_how():
    with pytest.raises(NotConfirmed, match="refusing to reset lab lab1 .*no terminal.*--yes"):
        confirm("lab1", "reset lab lab1", "reset it", yes=False, interactive=False, ask=never_asked)


def test_typing_the_labs_name_confirms_and_the_prompt_says_what_is_lost():
    prompts = []
    confirm("lab1", "reset lab lab1", "Reset lab lab1: ...", yes=False, interactive=True,
            ask=lambda p: prompts.append(p) or " lab1\n")
    assert "Reset lab lab1" in prompts[0] and "(lab1)" in prompts[0]


@pytest.mark.parametrize("answer", ["y", "yes", "", "Lab1", "local"])
def test_anything_but_the_labs_name_refuses(answer):
    with pytest.raises(NotConfirmed, match="not confirmed"):
        confirm("lab1", "reset lab lab1", "reset it", yes=False, interactive=True, ask=lambda p: answer)
