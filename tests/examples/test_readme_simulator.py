"""The testing snippet of the README, verbatim."""

from aiflow.testing import CallSimulator
from tests.examples.hello import assistant


def test_goodbye_hangs_up_after_the_farewell():
    with CallSimulator(assistant) as call:
        call.start().expect.speak(contains="Hello")
        call.say("Bye").expect.speak(contains="Goodbye").hangup().no_more_actions()
