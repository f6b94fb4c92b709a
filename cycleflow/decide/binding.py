"""Binding an application's own objects to a policy: ``obj.advance(actor=...)`` obeys it.

:meth:`Engine.bind <cycleflow.decide.engine.Engine.bind>` adds the policy's triggers to an
object as methods, through one ``transitions`` machine per engine whose models are the
bound objects. Each trigger is judged by the engine's ``decide``; a refused one raises
:class:`~cycleflow.errors.TransitionBlocked` and leaves the object as it was. The object's
own ``stage`` (text or an Enum) is the state, and its record is what the policy reads.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any

from cycleflow.decide.clock import iso, resolve_now
from cycleflow.decide.decision import Decision
from cycleflow.errors import TransitionBlocked, UsageError
from cycleflow.model.build import did_you_mean

if TYPE_CHECKING:
    from cycleflow.decide.engine import Engine

_ABSENT = object()  # what getattr_static returns for a name the object does not have


class Binder:
    """The ``bind()`` side of one engine: the machine bound objects are models of (built on
    first use, under a lock), and how a trigger on one is judged, applied and undone."""

    def __init__(self, engine: Engine, fields: Sequence[str]) -> None:
        self.engine = engine
        #: the top-level deal fields the policy can read: what a bound object's record holds
        self.fields = tuple(fields)
        self._lock = threading.Lock()
        self._machine: Any = None

    def bind(self, obj: Any, *, record: Callable[[Any], Mapping[str, Any]] | None = None) -> Any:
        """:meth:`Engine.bind`: refuse what cannot be bound, then add the object as a model."""
        if not hasattr(obj, "__dict__") or isinstance(obj, type):
            raise UsageError(
                f"bind needs an object that takes attributes (an instance of your class), "
                f"not {type(obj).__name__}; for a plain record use decide() or apply()"
            )
        if "_cycleflow_record" in obj.__dict__:
            raise UsageError("object is already bound to an engine: unbind it from that one "
                             "first (an object obeys one policy)")
        names = self._names()
        # getattr_static: a property is a clash without running its getter, and so is an
        # attribute that holds None (advance=None, an advance payment not yet made)
        clashes = [n for n in names if inspect.getattr_static(obj, n, _ABSENT) is not _ABSENT]
        if clashes:  # transitions would keep the object's own and skip the policy's, silently
            raise UsageError(
                f"cannot bind: the object already has {', '.join(clashes)}, which bind() "
                "would add for the policy's triggers; rename them in your class, or judge "
                "plain records with decide() and apply()"
            )
        raw = getattr(obj, "stage", _ABSENT)
        current = _stage_text(raw)  # an app's Enum stage is its value, a StrEnum its text
        if current is _ABSENT or current is None or current == "":
            # a deal read back with no stage is not a new deal: placing it in the initial
            # stage would judge it from the start of the cycle, silently
            initial = self.engine.policy.initial_stage.id
            raise UsageError(
                f"cannot bind {type(obj).__name__}: "
                + ("it has no stage" if raw is _ABSENT else f"its stage is {raw!r}")
                + f"; set obj.stage to the deal's stage first ({initial!r}, the policy's "
                "initial stage, for a new deal)"
            )
        if not isinstance(current, str) or current not in self.engine.compiled.rests:
            hint = did_you_mean(str(current), self.engine.compiled.stage_ids)
            raise UsageError(f"object is in unknown stage {raw!r}" + (f" ({hint})" if hint else ""))
        machine = self.machine()
        try:
            machine.add_model(obj, initial=current)
        except Exception as err:  # a pydantic model, a frozen dataclass, __slots__...
            if any(model is obj for model in machine.models):
                machine.remove_model(obj)
            for name in names:  # nothing of a half-done bind stays on the object
                obj.__dict__.pop(name, None)
            raise UsageError(
                f"cannot bind {type(obj).__name__}: it refused the methods bind() adds "
                f"({type(err).__name__}: {err}); bind a plain object, or judge its fields "
                "with decide() and apply()"
            ) from None
        obj.__dict__["_cycleflow_record"] = record or partial(
            _default_record, fields=self.fields
        )
        return obj

    @contextmanager
    def bound(
        self, obj: Any, *, record: Callable[[Any], Mapping[str, Any]] | None = None
    ) -> Iterator[Any]:
        """:meth:`Engine.bound`."""
        self.bind(obj, record=record)
        try:
            yield obj
        finally:
            self.unbind(obj)

    def unbind(self, obj: Any) -> None:
        """:meth:`Engine.unbind`."""
        machine = self.machine()
        if not any(model is obj for model in machine.models):
            raise UsageError("object is not bound to this engine")
        machine.remove_model(obj)
        for name in (*self._names(), "_cycleflow_record", "_cycleflow_decision"):
            obj.__dict__.pop(name, None)

    def _names(self) -> list[str]:
        """The attributes bind() adds to an object (transitions' trigger and test methods)."""
        triggers = sorted({t.trigger for t in self.engine.policy.transitions})
        return ["trigger", "may_trigger", *triggers, *(f"may_{t}" for t in triggers),
                *(f"is_stage_{s}" for s in self.engine.compiled.stage_ids)]

    def machine(self) -> Any:
        """The one machine bound objects are models of (built on first use)."""
        with self._lock:
            if self._machine is None:
                self._machine = self._build()
            return self._machine

    def _build(self) -> Any:
        """A ``transitions`` machine whose stage reads and writes speak the app's terms: an
        Enum stage by its value (written back as a member of the app's Enum), an unknown
        stage or trigger as a :class:`CycleflowError` with "did you mean", never a raw
        ValueError or AttributeError from the library."""
        from transitions.core import State, listify
        from transitions.extensions import LockedMachine
        from transitions.extensions.locking import LockedEvent

        binder = self

        class BoundEvent(LockedEvent):
            def _trigger(self, event_data: Any) -> Any:
                # runs under the model's lock, before transitions reads the stage
                stage = _stage_text(getattr(event_data.model, "stage", None))
                if not isinstance(stage, str) or stage not in self.machine.states:
                    binder._unknown_stage(event_data)
                return super()._trigger(event_data)

        class BoundMachine(LockedMachine):
            event_cls = BoundEvent

            def get_state(self, state: Any) -> Any:
                return super().get_state(_stage_text(state))

            def get_model_state(self, model: Any) -> Any:
                raw = getattr(model, self.model_attribute, None)
                stage = _stage_text(raw)
                if not isinstance(stage, str) or stage not in self.states:
                    hint = did_you_mean(str(stage), binder.engine.compiled.stage_ids)
                    raise UsageError(f"object is in unknown stage {raw!r}"
                                     + (f" ({hint})" if hint else ""))
                return self.states[stage]

            def set_state(self, state: Any, model: Any = None) -> None:
                if not isinstance(state, State):
                    state = self.get_state(state)
                attr = self.model_attribute
                for mod in self.models if model is None else listify(model):
                    setattr(mod, attr, _stage_like(getattr(mod, attr, None), state.value))

            def is_state(self, state: Any, model: Any) -> bool:
                return bool(_stage_text(getattr(model, self.model_attribute, None)) == state)

            def known(self, trigger: Any) -> None:
                """A UsageError with did-you-mean for a trigger the policy lacks: a misspelt
                name is the calling code's mistake, for ``trigger()`` and ``may_trigger()``
                alike (a silent False read as "not allowed")."""
                if not isinstance(trigger, str) or trigger not in self.events:
                    hint = did_you_mean(str(trigger), binder.engine.policy.triggers)
                    raise UsageError(
                        f"unknown trigger {trigger!r}" + (f" ({hint})" if hint else "")
                        + f"; the policy's triggers: {', '.join(binder.engine.policy.triggers)}"
                    )

            def _get_trigger(self, model: Any, trigger_name: Any, *args: Any,
                             **kwargs: Any) -> Any:
                self.known(trigger_name)
                return super()._get_trigger(model, trigger_name, *args, **kwargs)

            def _can_trigger(self, model: Any, trigger: Any, *args: Any, **kwargs: Any) -> Any:
                self.known(trigger)
                stage = _stage_text(getattr(model, self.model_attribute, None))
                if not isinstance(stage, str) or stage not in self.states:
                    binder._trigger_args(str(trigger), args, kwargs)
                    return False  # asks, never raises: no stage of the policy allows a move
                return super()._can_trigger(  # type: ignore[misc]  # not in the stubs
                    model, trigger, *args, **kwargs)

        def guard(event: Any) -> bool:
            return self._guard(event)

        def entered(event: Any) -> None:
            obj = event.model
            before: tuple[Any, Any] = getattr(event, "cycleflow_before", (_ABSENT, _ABSENT))
            try:
                moment = resolve_now(event.kwargs.get("now"))
                try:
                    obj.stage_entered_at = iso(moment)
                except Exception as err:  # a read-only property, a validating setter
                    raise UsageError(
                        f"cannot write {type(obj).__name__}.stage_entered_at after the move "
                        f"({type(err).__name__}: {err}); the move is undone"
                    ) from err
                # written first, logged second: "applied" is logged only for a move the
                # object holds, and a log that cannot say so undoes the move (below), so
                # the object and the log never disagree (apply() returns no record then)
                self.engine._emit_applied(obj.__dict__.get("_cycleflow_decision"),
                                   event.kwargs.get("actor"), moment)
            except BaseException:
                _restore(obj, before)
                raise

        machine = BoundMachine(
            model=None,
            states=list(self.engine.compiled.stage_ids),
            initial=self.engine.policy.initial_stage.id,
            auto_transitions=False,
            send_event=True,
            model_attribute="stage",
        )
        sources: dict[str, set[str]] = {}
        for t in self.engine.policy.transitions:
            machine.add_transition(
                t.trigger, list(t.sources), t.target, conditions=[guard], after=[entered]
            )
            sources.setdefault(t.trigger, set()).update(t.sources)
        for trigger, allowed in sources.items():
            # from any other stage the trigger is not permitted: the guard says so
            # with a TransitionBlocked (transitions itself would raise MachineError)
            rest: list[Any] = [s for s in self.engine.compiled.stage_ids if s not in allowed]
            if rest:
                machine.add_transition(trigger, rest, None, conditions=[guard])
        return machine

    @staticmethod
    def _trigger_args(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Refuse a bound trigger's positional or misspelt arguments: a dropped actor would
        leave the move with no requester."""
        unknown = sorted(set(kwargs) - {"actor", "now"})
        if args or unknown:
            raise UsageError(
                f"{name}() takes only actor= and now= keywords, not "
                + (f"{len(args)} positional argument(s)" if args
                   else ", ".join(f"{k}=" for k in unknown))
                + f": write obj.{name}(actor=..., now=...)"
            )

    def _record(self, obj: Any) -> dict[str, Any]:
        """A bound object's deal record, read by its ``record`` function (or the default)."""
        reader: Callable[[Any], Mapping[str, Any]] | None = obj.__dict__.get("_cycleflow_record")
        if reader is None:
            return dict(_default_record(obj, self.fields))
        return dict(reader(obj))

    def _unknown_stage(self, event: Any) -> None:
        """A trigger on a bound object whose stage is no stage of the policy (set after
        bind, or misspelt): refused as :meth:`decide` refuses it, ``not_permitted`` with
        "did you mean", logged, and raised as :class:`TransitionBlocked`."""
        obj = event.model
        name = event.event.name
        self._trigger_args(name, event.args, event.kwargs)
        deal = self._record(obj)
        deal["stage"] = _stage_text(getattr(obj, "stage", None))
        decision = self.engine._decide(deal, name, event.kwargs.get("actor"),
                                resolve_now(event.kwargs.get("now")), True, self.engine.audit)
        obj.__dict__["_cycleflow_decision"] = decision
        raise TransitionBlocked(decision)

    def _guard(self, event: Any) -> bool:
        obj = event.model
        self._trigger_args(event.event.name, event.args, event.kwargs)
        deal = self._record(obj)
        deal["stage"] = event.state.name
        # may_<trigger>() asks through a fresh Event, a real trigger through the machine's
        probe = event.event is not event.machine.events.get(event.event.name)
        # one clock for the decision and the move: the callback after it reads this too
        event.kwargs["now"] = moment = resolve_now(event.kwargs.get("now"))
        decision = self.engine._decide(
            deal,
            event.event.name,
            event.kwargs.get("actor"),
            moment,
            True,
            None if probe else self.engine.audit,
        )
        if probe:
            return decision.allowed
        obj.__dict__["_cycleflow_decision"] = decision
        if not decision.allowed:
            raise TransitionBlocked(decision)
        # what the move overwrites, for the callback after it to put back if it must
        event.cycleflow_before = (getattr(obj, "stage", _ABSENT),
                                  getattr(obj, "stage_entered_at", _ABSENT))
        return True


def _stage_text(stage: Any) -> Any:
    """An app's stage as a policy stage id: an Enum member by its value, a ``str`` subclass
    as plain text; anything else as it is."""
    if isinstance(stage, Enum):
        stage = stage.value
    if isinstance(stage, str) and type(stage) is not str:
        stage = str.__str__(stage)
    return stage

def _stage_like(old: Any, stage: str) -> Any:
    """The stage to write back to a bound object: a member of the app's Enum when its stage
    was one and that Enum has a member with this value (an ORM column keeps its type),
    else the text."""
    if isinstance(old, Enum):
        try:
            member = type(old)(stage)
        except (ValueError, TypeError):
            return stage
        # an Enum whose _missing_ falls back (to 'unknown') answers with another member
        return member if member.value == stage else stage
    return stage

def _restore(obj: Any, before: tuple[Any, Any]) -> None:
    """Put back a bound object's ``stage`` and ``stage_entered_at`` as they were before a
    move that could not be completed (an attribute it did not have is removed again)."""
    for name, value in zip(("stage", "stage_entered_at"), before, strict=True):
        now = getattr(obj, name, _ABSENT)
        if now is value or (value is not _ABSENT and now == value):
            continue  # not changed (a read-only one could not be)
        if value is not _ABSENT:
            setattr(obj, name, value)
        else:  # in __dict__, a slot or a descriptor: whichever holds it
            with contextlib.suppress(AttributeError):
                delattr(obj, name)

def _default_record(obj: Any, fields: Sequence[str] = ()) -> Mapping[str, Any]:
    """A bound object's deal record: its public, non-callable attributes, and each of
    ``fields`` (what the policy reads) that only ``getattr`` finds (a property, a class
    value, an ORM's deferred column): a risk reading one must not see it as missing."""
    if isinstance(obj, Mapping):
        return obj
    own = vars(obj)
    record = {k: v for k, v in own.items() if not k.startswith("_") and not callable(v)}
    for name in fields:
        if name in own or name.startswith("_"):
            continue
        static = inspect.getattr_static(obj, name, _ABSENT)
        if static is _ABSENT and not hasattr(type(obj), "__getattr__"):
            continue  # no such attribute anywhere: missing
        try:
            # no default: a property whose getter raises AttributeError is broken, not
            # absent (read as absent, default(deal.discount_pct, 0) let a discount through)
            value = getattr(obj, name)
        except AttributeError as err:
            if static is _ABSENT or isinstance(static, types.MemberDescriptorType):
                continue  # __getattr__ knows no such field, or a slot never set: missing
            raise UsageError(
                f"cannot read {type(obj).__name__}.{name}, which the policy reads: "
                f"AttributeError: {err}"
            ) from err
        except Exception as err:  # a property that fails: the move cannot be judged
            raise UsageError(
                f"cannot read {type(obj).__name__}.{name}, which the policy reads: "
                f"{type(err).__name__}: {err}"
            ) from err
        if not callable(value):
            record[name] = value
    return record


def last_decision(obj: Any) -> Decision | None:
    """:meth:`Engine.last_decision`: what the object's last trigger was told."""
    found = obj.__dict__.get("_cycleflow_decision") if hasattr(obj, "__dict__") else None
    return found if isinstance(found, Decision) else None
