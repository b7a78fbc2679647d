"""`voicebot call --barge`: telling a prompt that went on from one that stopped, on audio."""

import numpy as np

from voicebot.cli.call import replayed
from voicebot.testing.speech import voice_tone


def test_audio_replayed_after_a_pause_is_found_in_what_came_before():
    prompt = voice_tone(1.5, f0=130).astype(np.float64) / 32768
    heard, again = prompt[:8000], prompt[6000 : 6000 + 1600]  # rewound 0.25 s, 0.2 s of it
    assert replayed(heard, again)
    other = voice_tone(0.2, f0=190).astype(np.float64) / 32768  # a new prompt
    assert not replayed(heard, other)
    assert not replayed(heard, np.zeros(1600))  # silence is no evidence
