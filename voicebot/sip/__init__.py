"""SIP calls on pjsua2: one endpoint thread per process, per-call audio queues, events out.

Everything that touches pjsua2 lives in this package.

    config     SipConfig (port, transports, allow-list, codecs, registration), AllowList
    endpoint   SipEndpoint (start/stop, events(), answer/hangup/make_call/send_dtmf/transfer/
               hold, media); SipError lives in voicebot.errors
    events     the frozen events SipEndpoint.events() hands out
    media      CallMedia (read_frames/play/stop_playback), MediaPort (the pjsua2 port)
    calls      the pjsua2 Account/Call subclasses behind the endpoint (internal)
    softphone  Softphone: a scripted caller for tests and `voicebot call`
"""
