// The page global of tests/browser/test_npm_whip_whep.py: Eyevinn's WHIP client, as published.
import { WHIPClient } from "@eyevinn/whip-web-client";

window.WHIPClient = WHIPClient;
