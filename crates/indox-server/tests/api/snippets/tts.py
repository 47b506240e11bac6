import base64
import requests

API_KEY = "YOUR_API_KEY"
BASE_URL = "https://api.indoxhub.com/api/v1"

# 1. Pick a voice
voices = requests.get(
    f"{BASE_URL}/resemble/tts/voices?page=1&page_size=10",
    headers={"Authorization": f"Bearer {API_KEY}"},
).json()
voice_uuid = voices["items"][0]["uuid"]

# 2. Synthesize
resp = requests.post(
    f"{BASE_URL}/resemble/tts/synthesize",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={
        "voice_uuid": voice_uuid,
        "text": "Hello from IndoxHub.",
        "output_format": "mp3",
    },
).json()

# 3. Save the audio
with open("hello.mp3", "wb") as f:
    f.write(base64.b64decode(resp["audio_content"]))

print(f"billed: {resp['billing']['charged']} USD for {resp['billing']['quantity']}s")
