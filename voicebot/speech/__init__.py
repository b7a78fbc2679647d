"""The speech core: everything between call audio and text, knowing nothing of SIP.

    vad           Vad, VadSettings, WebRtcClassifier: webrtcvad with a noise-floor gate and
                  start/stop hysteresis
    listener      Listener (sans-IO): frames in, SpeechStarted / SpeechPaused / EndOfUtterance
                  / BargeIn / NoInput / MaxSpeech out; adaptive end-of-utterance window
    recognizer    Recognizer protocol, WhisperRecognizer (free text, grammar mode, partial reuse
                  per call); grammar (closed sets, digit strings); partials (PartialDecoder)
    scheduler     RecognitionQueue (sans-IO: finals first, one partial in flight per call) and
                  RecognitionScheduler (the queue on a worker's decode thread)
    synthesizer   Synthesizer protocol, Voice, EspeakSynthesizer (espeak-ng at 8/16 kHz)
    prompt_cache  PromptCache: content-addressed rendered prompts, prerender, per-sentence
                  streaming, WAV assets resampled once

Modules are imported by name (``from voicebot.speech.listener import Listener``) so that
loading one does not load the native libraries of the others.
"""
