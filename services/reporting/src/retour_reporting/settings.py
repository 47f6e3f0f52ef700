from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-reporting"
    http_port: int = 8004
