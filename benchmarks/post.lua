-- wrk script: send the URL given on the command line (path and query) as a POST with an empty
-- body (Content-Length: 0). Used for InvokeAI's `POST /api/v1/boards/?board_name=x`, whose
-- parameters are all in the query. Static: wrk builds the request once and repeats it.
wrk.method = "POST"
wrk.body = ""
