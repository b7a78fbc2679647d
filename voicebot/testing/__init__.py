"""Fakes shipped with voicebot for tests (httpx's MockTransport habit): one module per boundary.

speech     FakeSynthesizer, synthetic audio (silence, noise, voice-like tones), frame feeding
embeddings FakeEmbedder: bag-of-words vectors, synonyms by table
registrar  a loopback SIP registrar with digest auth (REGISTER only)
"""
