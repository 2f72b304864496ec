// The page global of tests/browser/test_npm_whip_whep.py: Eyevinn's WebRTC player, as published.
import { WebRTCPlayer } from "@eyevinn/webrtc-player";

window.WebRTCPlayer = WebRTCPlayer;
