from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-intake"
    http_port: int = 8001
