from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-notifications"
    http_port: int = 8003
