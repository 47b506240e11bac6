import time
import requests

API_KEY = "YOUR_API_KEY"
BASE_URL = "https://api.indoxhub.com/api/v1"

# 1. Submit the job
job = requests.post(
    f"{BASE_URL}/resemble/stt",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={
        "audio_url": "https://example.com/recording.mp3",
        "lang": "en",
    },
).json()
job_id = job["job_id"]

# 2. Poll until complete (or subscribe to webhooks — see below)
while True:
    status = requests.get(
        f"{BASE_URL}/resemble/stt/{job_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ).json()
    if status["status"] in ("completed", "failed"):
        break
    time.sleep(5)

print(status.get("transcript"))
