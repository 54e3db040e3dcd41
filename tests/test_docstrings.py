"""Every public name documents itself: its own docstring, and options as real parameters."""

import inspect

import scrutiny
from scrutiny.trainers import rewards


def own_doc(obj) -> str | None:
    """The docstring written for this object itself (a class's own, not one inherited from pydantic)."""
    return obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__


def public_methods(cls):
    for name, member in vars(cls).items():
        if not name.startswith("_") and inspect.isfunction(member):
            yield f"{cls.__name__}.{name}", member


def test_every_public_name_has_a_docstring_of_its_own():
    names = [(n, getattr(scrutiny, n)) for n in scrutiny.__all__ if n != "__version__"]
    names += [(n, getattr(rewards, n)) for n in ("JudgeReward", "flow_grpo_reward", "multi_score", "trl_reward")]
    names += [(n, getattr(rewards, n)) for n in ("verl_reward", "verl_batch_reward", "TextCompletions")]
    names += list(public_methods(scrutiny.Judge)) + list(public_methods(rewards.JudgeReward))
    missing = [name for name, obj in names if not (own_doc(obj) or "").strip()]
    assert not missing, f"no docstring of their own: {missing}"


def test_options_are_keyword_parameters_not_kwargs():
    for fn in (scrutiny.judge, scrutiny.compare, scrutiny.rank, scrutiny.edit, scrutiny.refine):
        kinds = [p.kind for p in inspect.signature(fn).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD not in kinds, fn.__name__
    for _, method in public_methods(scrutiny.Judge):
        kinds = [p.kind for p in inspect.signature(method).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD not in kinds, method.__name__
    assert "rounds" in inspect.signature(scrutiny.refine).parameters
