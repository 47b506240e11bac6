job = requests.post(
    f"{BASE_URL}/resemble/enhance",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={"audio_url": "https://example.com/raw-podcast.wav"},
).json()

# Poll /resemble/enhance/{job_id} or wait for webhook
