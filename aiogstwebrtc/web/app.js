/*
 * The aiogstwebrtc demo page: lists producers, plays one, chats over its data channel,
 * shows connection state and statistics, and can share the camera as a producer.
 *
 * Signalling goes through the gstwebrtc-api library (vendor/) to the server that served
 * this page, on the same host and port. No STUN or TURN server is ever used.
 *
 * URL parameters: ?token=... (the server's shared token), ?name=... (this page's name as
 * a producer), ?watch=<name> (start watching the first producer with that name).
 *
 * window.demo holds the page's live state (read by the browser tests).
 */
"use strict";

(() => {
  const params = new URLSearchParams(window.location.search);
  const wsScheme = window.location.protocol === "https:" ? "wss" : "ws";
  let signalingServerUrl = `${wsScheme}://${window.location.host}/`;
  if (params.get("token")) {
    signalingServerUrl += `?token=${encodeURIComponent(params.get("token"))}`;
  }
  const myName = params.get("name") || `browser-${Math.random().toString(36).slice(2, 6)}`;
  // No public STUN servers (gstwebrtc-api's default names some): host candidates only.
  const webrtcConfig = { iceServers: [], bundlePolicy: "max-bundle" };
  const STATE_NAMES = ["idle", "connecting", "streaming", "closed"];

  const $ = (id) => document.getElementById(id);
  const ui = {
    signalling: $("signalling"), me: $("me"), error: $("error"),
    producers: $("producers"), noProducers: $("no-producers"),
    share: $("share"), shareState: $("share-state"), local: $("local"),
    remote: $("remote"), placeholder: $("placeholder"), watching: $("watching"),
    unmute: $("unmute"), stop: $("stop"),
    session: $("st-session"), connection: $("st-connection"), ice: $("st-ice"),
    rtt: $("st-rtt"), bitrate: $("st-bitrate"), frames: $("st-frames"),
    resolution: $("st-resolution"), fps: $("st-fps"),
    chatState: $("chat-state"), chatLog: $("chat-log"), chatForm: $("chat-form"),
    chatInput: $("chat-input"), chatSend: $("chat-send"),
  };

  const demo = {
    signalling: "connecting",
    peerId: null,
    name: myName,
    producers: [],
    watching: null,
    session: "none",
    connectionState: "new",
    iceConnectionState: "new",
    framesDecoded: 0,
    rttMs: null,
    bitrateKbps: null,
    width: 0,
    height: 0,
    fps: null,
    channel: "none",
    chat: [],
    errors: [],
    sharing: "off",
    consumers: 0,
    iceServers: null,
    videoCodec: null,
  };
  window.demo = demo;

  // ------------------------------------------------------------------ messages

  function showError(text) {
    demo.errors.push(text);
    ui.error.textContent = text;
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  function chatLine(kind, text) {
    demo.chat.push({ kind, text });
    const li = document.createElement("li");
    li.className = kind;
    li.textContent = kind === "me" ? `you: ${text}` : kind === "them" ? `producer: ${text}` : text;
    ui.chatLog.appendChild(li);
    ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
  }

  function setSignalling(state, text) {
    demo.signalling = state;
    ui.signalling.dataset.state = state;
    ui.signalling.textContent = `signalling: ${text}`;
  }

  // ------------------------------------------------------------------ signalling

  const api = new window.GstWebRTCAPI({
    meta: { name: myName },
    signalingServerUrl,
    reconnectionTimeout: 2500,
    webrtcConfig,
  });

  api.registerConnectionListener({
    connected(clientId) {
      demo.peerId = clientId;
      setSignalling("connected", "connected");
      ui.me.textContent = `you are ${myName} (${clientId.slice(0, 8)})`;
      if (demo.errors.length && ui.error.textContent.startsWith("Cannot reach")) {
        clearError();
      }
    },
    disconnected() {
      demo.peerId = null;
      setSignalling("disconnected", "disconnected, retrying…");
      showError(
        `Cannot reach the signalling server at ${signalingServerUrl.split("?")[0]} ` +
        "(is it running? is the token right?). Retrying every 2.5 s."
      );
      renderProducers();
    },
  });

  api.registerPeerListener({
    producerAdded(producer) {
      if (producer.id === demo.peerId) {
        return;
      }
      demo.producers = api.getAvailableProducers().map(describe);
      renderProducers();
      const wanted = params.get("watch");
      if (wanted && !currentSession && producer.meta && producer.meta.name === wanted) {
        watch(producer);
      }
    },
    producerRemoved(producer) {
      demo.producers = api.getAvailableProducers().map(describe);
      renderProducers();
      if (lastWatchedId === producer.id) {
        showError(`The producer ${label(producer)} left.`);
      }
    },
  });

  function describe(producer) {
    return { id: producer.id, name: label(producer) };
  }

  function label(producer) {
    return (producer.meta && producer.meta.name) || producer.id.slice(0, 8);
  }

  function renderProducers() {
    const producers = api.getAvailableProducers().filter((p) => p.id !== demo.peerId);
    ui.producers.replaceChildren();
    for (const producer of producers) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.producerId = producer.id;
      button.className = currentSession && currentSession.peerId === producer.id ? "active" : "";
      button.textContent = label(producer);
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = producer.id;
      button.appendChild(id);
      button.addEventListener("click", () => watch(producer));
      li.appendChild(button);
      ui.producers.appendChild(li);
    }
    ui.noProducers.hidden = producers.length > 0;
  }

  // ------------------------------------------------------------------ watching

  let currentSession = null;
  let lastWatchedId = null;
  let chatChannel = null;
  let statsTimer = null;
  let lastBytes = null;

  function watch(producer) {
    stopWatching();
    clearError();
    const session = api.createConsumerSession(producer.id);
    if (!session) {
      showError("Cannot start a session: the signalling connection is not ready.");
      return;
    }
    currentSession = session;
    lastWatchedId = producer.id;
    demo.watching = { id: producer.id, name: label(producer) };
    ui.watching.textContent = `Watching ${label(producer)}`;
    ui.stop.disabled = false;
    ui.unmute.disabled = false;
    renderProducers();
    ui.chatLog.replaceChildren();
    demo.chat = [];
    demo.framesDecoded = 0;

    session.addEventListener("error", (event) => {
      const detail = event.error && event.error.message ? `: ${event.error.message}` : "";
      showError(`Session error (${event.message}${detail}).`);
    });
    session.addEventListener("stateChanged", () => {
      if (session !== currentSession) {
        return;
      }
      demo.session = STATE_NAMES[session.state] || String(session.state);
      ui.session.textContent = demo.session;
    });
    session.addEventListener("streamsChanged", () => {
      if (session !== currentSession || session.streams.length === 0) {
        return;
      }
      if (ui.remote.srcObject === session.streams[0]) {
        return;
      }
      ui.remote.srcObject = session.streams[0];
      ui.placeholder.hidden = true;
      ui.remote.play().catch((err) => {
        if (err.name !== "AbortError") { // AbortError: a newer load replaced this one
          showError(`The video cannot play: ${err.name}: ${err.message}`);
        }
      });
    });
    session.addEventListener("rtcPeerConnectionChanged", () => {
      if (session === currentSession && session.rtcPeerConnection) {
        followPeerConnection(session.rtcPeerConnection);
      }
    });
    session.addEventListener("closed", () => {
      if (session !== currentSession) {
        return;
      }
      demo.session = "closed";
      ui.session.textContent = "closed";
      ui.watching.textContent = `Session with ${label(producer)} ended.`;
      chatLine("info", "session ended");
      showError(`The session with ${label(producer)} ended (the producer closed it or left).`);
      endWatchingUi();
      currentSession = null;
      renderProducers();
    });
    if (!session.connect()) {
      showError("Cannot start a session with this producer.");
    }
  }

  function followPeerConnection(pc) {
    demo.iceServers = pc.getConfiguration().iceServers.length;
    const update = () => {
      demo.connectionState = pc.connectionState;
      demo.iceConnectionState = pc.iceConnectionState;
      ui.connection.textContent = pc.connectionState;
      ui.ice.textContent = pc.iceConnectionState;
      if (pc.connectionState === "failed") {
        showError(
          "The media connection failed: no network path between this browser and the " +
          "producer (ICE found no working candidate pair)."
        );
      }
    };
    pc.addEventListener("connectionstatechange", update);
    pc.addEventListener("iceconnectionstatechange", update);
    pc.addEventListener("datachannel", (event) => {
      if (event.channel.label !== "control") {
        useChatChannel(event.channel);
      }
    });
    update();
    lastBytes = null;
    clearInterval(statsTimer);
    statsTimer = setInterval(() => collectStats(pc), 1000);
  }

  async function collectStats(pc) {
    if (pc.connectionState === "closed") {
      return;
    }
    let report;
    try {
      report = await pc.getStats();
    } catch (err) {
      return;
    }
    let bytes = 0;
    let when = 0;
    let pairId = null;
    let videoCodecId = null;
    const pairs = {};
    const codecs = {};
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        bytes += s.bytesReceived || 0;
        when = Math.max(when, s.timestamp);
        if (s.kind === "video") {
          demo.framesDecoded = s.framesDecoded || 0;
          demo.width = s.frameWidth || 0;
          demo.height = s.frameHeight || 0;
          demo.fps = s.framesPerSecond || null;
          videoCodecId = s.codecId || null;
        }
      } else if (s.type === "codec") {
        codecs[s.id] = s;
      } else if (s.type === "transport" && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      } else if (s.type === "candidate-pair") {
        pairs[s.id] = s;
      }
    });
    const codec = codecs[videoCodecId];
    if (codec) {
      demo.videoCodec = `${codec.mimeType} ${codec.sdpFmtpLine || ""}`.trim();
    }
    const pair = pairs[pairId] ||
      Object.values(pairs).find((p) => p.nominated && p.state === "succeeded");
    if (pair && typeof pair.currentRoundTripTime === "number") {
      demo.rttMs = Math.round(pair.currentRoundTripTime * 1000 * 10) / 10;
    }
    if (lastBytes && when > lastBytes.when) {
      demo.bitrateKbps = Math.round(((bytes - lastBytes.bytes) * 8) / (when - lastBytes.when));
    }
    lastBytes = { bytes, when };
    ui.frames.textContent = String(demo.framesDecoded);
    ui.rtt.textContent = demo.rttMs === null ? "–" : `${demo.rttMs} ms`;
    ui.bitrate.textContent = demo.bitrateKbps === null ? "–" : `${demo.bitrateKbps} kbit/s`;
    ui.resolution.textContent = demo.width ? `${demo.width}×${demo.height}` : "–";
    ui.fps.textContent = demo.fps === null ? "–" : `${demo.fps} /s`;
  }

  function useChatChannel(channel) {
    chatChannel = channel;
    const update = () => {
      demo.channel = channel.readyState;
      ui.chatState.textContent = `(${channel.label}: ${channel.readyState})`;
      const open = channel.readyState === "open";
      ui.chatInput.disabled = !open;
      ui.chatSend.disabled = !open;
    };
    channel.addEventListener("open", () => {
      update();
      chatLine("info", `data channel "${channel.label}" open`);
    });
    channel.addEventListener("close", update);
    channel.addEventListener("error", (event) => {
      showError(`Data channel error: ${event.error ? event.error.message : "unknown"}`);
    });
    channel.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : `[${event.data.byteLength} bytes]`;
      chatLine("them", text);
    });
    update();
  }

  function endWatchingUi() {
    clearInterval(statsTimer);
    statsTimer = null;
    chatChannel = null;
    demo.channel = "none";
    ui.remote.srcObject = null;
    ui.placeholder.hidden = false;
    ui.stop.disabled = true;
    ui.unmute.disabled = true;
    ui.chatInput.disabled = true;
    ui.chatSend.disabled = true;
    ui.chatState.textContent = "(no data channel)";
  }

  function stopWatching() {
    if (currentSession) {
      const session = currentSession;
      currentSession = null; // its "closed" event is then ours, not an error
      lastWatchedId = null;
      session.close();
    }
    demo.watching = null;
    endWatchingUi();
  }

  ui.stop.addEventListener("click", () => {
    stopWatching();
    ui.watching.textContent = "Not watching.";
    renderProducers();
  });

  ui.unmute.addEventListener("click", () => {
    ui.remote.muted = !ui.remote.muted;
    ui.unmute.textContent = ui.remote.muted ? "Unmute" : "Mute";
  });

  ui.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.chatInput.value.trim();
    if (!text || !chatChannel || chatChannel.readyState !== "open") {
      return;
    }
    try {
      chatChannel.send(text);
      chatLine("me", text);
      ui.chatInput.value = "";
    } catch (err) {
      showError(`Cannot send: ${err.message}`);
    }
  });

  // ------------------------------------------------------------------ producing

  let producerSession = null;

  ui.share.addEventListener("click", async () => {
    if (producerSession) {
      producerSession.close();
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("This browser cannot capture the camera (a secure origin is needed: " +
        "use http://localhost or https).");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (err) {
      showError(`Camera unavailable: ${err.name}: ${err.message}`);
      return;
    }
    const session = api.createProducerSession(stream);
    if (!session) {
      stream.getTracks().forEach((t) => t.stop());
      showError("Cannot share: the signalling connection is not ready.");
      return;
    }
    producerSession = session;
    ui.local.srcObject = stream;
    ui.local.hidden = false;
    ui.share.textContent = "Stop sharing";
    const update = (text) => {
      demo.sharing = text;
      ui.shareState.textContent = `${text}; ${demo.consumers} consumer(s)`;
    };
    session.addEventListener("error", (event) => {
      const detail = event.error && event.error.message ? `: ${event.error.message}` : "";
      showError(`Sharing error (${event.message}${detail}).`);
    });
    session.addEventListener("stateChanged", () => {
      update(STATE_NAMES[session.state] || String(session.state));
    });
    session.addEventListener("clientConsumerAdded", () => {
      demo.consumers += 1;
      update(demo.sharing);
    });
    session.addEventListener("clientConsumerRemoved", () => {
      demo.consumers = Math.max(0, demo.consumers - 1);
      update(demo.sharing);
    });
    session.addEventListener("closed", () => {
      producerSession = null;
      demo.consumers = 0;
      update("off");
      ui.local.srcObject = null;
      ui.local.hidden = true;
      ui.share.textContent = "Share camera";
    });
    if (!session.start()) {
      showError("Cannot register as a producer.");
    }
  });

  window.addEventListener("beforeunload", () => {
    stopWatching();
    if (producerSession) {
      producerSession.close();
    }
  });

  renderProducers();
})();
