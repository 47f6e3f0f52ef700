from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-reintegration"
    http_port: int = 8002
