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
