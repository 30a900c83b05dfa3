"""Kubernetes side: the HelmRelease watcher (kubernetes-asyncio, imported lazily) and the API simulator."""
