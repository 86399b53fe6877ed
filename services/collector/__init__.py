"""The collector: an arq worker that fetches TikHub and writes metric history."""
