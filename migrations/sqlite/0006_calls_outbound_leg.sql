-- The outbound leg of a call: when Hibiki places a leg through a trunk
-- for a call (the trunk route, an IVR transfer, an agent's transfer or
-- consult to a number), the trunk's name and that leg's SIP Call-ID, the
-- identifiers a carrier asks for in a dispute. The last such leg placed
-- wins. (A callback's call record is itself the outbound leg: its
-- `trunk` and `sip_call_id` already say so.)
ALTER TABLE calls ADD COLUMN out_trunk TEXT;
ALTER TABLE calls ADD COLUMN out_sip_call_id TEXT;
