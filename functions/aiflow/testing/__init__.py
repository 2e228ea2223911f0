"""Test assistants like calls: a call simulator with an ``expect`` cursor, YAML call
scenarios and a pytest plugin.

    from aiflow.testing import CallSimulator

    def test_goodbye_hangs_up_after_the_farewell():
        with CallSimulator(assistant) as call:
            call.start().expect.speak(contains="Hallo")
            call.say("Tschüss").expect.speak(contains="Wiederhören").hangup().no_more_actions()

Needs only the framework's own dependencies; the embedded DynamoDB (moto) is imported only
when asked for.
"""

from .expect import Expect, render_turn
from .results import Exchange, TurnResult
from .scenario import Scenario, ScenarioError, load_scenarios, run_scenario
from .simulator import CallOptions, CallSimulator, SimulatorError

__all__ = [
    "CallOptions",
    "CallSimulator",
    "Exchange",
    "Expect",
    "Scenario",
    "ScenarioError",
    "SimulatorError",
    "TurnResult",
    "load_scenarios",
    "render_turn",
    "run_scenario",
]
