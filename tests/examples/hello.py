from aiflow import Assistant, UserSpeakEvent, hangup, speak

assistant = Assistant("hello")


@assistant.on_session_start
def greet():
    return speak("Hello! Say something.")


@assistant.on_user_speak
def echo(event: UserSpeakEvent):
    if "bye" in event.text.lower():
        return ["Goodbye!", hangup()]  # the hangup waits until the farewell was heard
    return f"You said: {event.text}"
