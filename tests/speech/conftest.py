import pytest


@pytest.fixture(scope="session")
def whisper():
    """The bundled tiny.en, loaded once for the whole session."""
    from voicebot.speech.model import load_model

    return load_model()


@pytest.fixture(scope="session")
def espeak():
    from voicebot.speech.synthesizer import EspeakSynthesizer

    return EspeakSynthesizer()


@pytest.fixture(scope="session")
def mandarin(tmp_path_factory):
    """Whisper base forced to Mandarin, assembled once into a session data directory."""
    from voicebot.speech.languages import mandarin_recognizer

    return mandarin_recognizer(tmp_path_factory.mktemp("mandarin-data"))
