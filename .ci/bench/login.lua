-- POST /auth/login with the bench user's right password: the load of figure 4.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email":"%s","password":"%s"}', os.getenv("BENCH_EMAIL"),
  os.getenv("BENCH_PASSWORD"))
