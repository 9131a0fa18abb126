DROP TABLE IF EXISTS railzway_request_events;
DROP TABLE IF EXISTS railzway_requests;
