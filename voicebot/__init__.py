"""voicebot: a voice-bot telephony service driven by YAML dialog flows."""

__version__ = "0.1.0"
